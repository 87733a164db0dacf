import http from "node:http";
import type { AddressInfo } from "node:net";

/** What a tampering subgraph answers: a status, a content type and a body. */
export interface Tampered {
  status: number;
  contentType?: string;
  body: string;
}

/** Rewrites what the real subgraph answered one operation (its parsed request and JSON answer). */
export type Tamper = (request: { query: string; variables?: Record<string, any> }, answer: Record<string, any>) => Tampered;

/**
 * A subgraph in front of a real one that passes every operation on and lets the test rewrite the answer
 * (errors, nulls, wrong types, failed calls), so the router's two executors can be compared on what a healthy
 * subgraph never sends. Batches are not understood: routers in front of it run with `subgraphBatching: "none"`.
 */
export async function startTamperingSubgraph(target: string) {
  let tamper: Tamper | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (typeof value === "string" && name !== "host" && name !== "content-length") headers[name] = value;
      void fetch(target, { method: "POST", headers, body: text })
        .then(async (upstream) => {
          const answer = (await upstream.json()) as Record<string, any>;
          const out = tamper ? tamper(JSON.parse(text), answer) : { status: upstream.status, body: JSON.stringify(answer) };
          res.writeHead(out.status, { "content-type": out.contentType ?? "application/json; charset=utf-8" });
          res.end(out.body);
        })
        .catch(() => {
          res.writeHead(502);
          res.end();
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  return {
    url,
    /** Rewrites every answer from now on (undefined: answers pass unchanged). */
    set: (next: Tamper | undefined) => void (tamper = next),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
