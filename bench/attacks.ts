/**
 * The hostile requests of issue 19, as `bench:attack` and anyone reproducing them send them: each returns how the
 * router answered (HTTP status and error code, or the WebSocket close code).
 */
import WebSocket from "ws";

export interface AttackOutcome {
  attack: string;
  /** `400 OPERATION_LIMIT_EXCEEDED`, `ws 1009`, `error: ...` */
  answer: string;
  ms: number;
}

const post = async (url: string, body: string, contentType = "application/json") => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": contentType }, body, signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  const code = /"code":"([A-Z_]+)"/.exec(text)?.[1] ?? (text.includes('"errors"') ? "ERROR" : "data");
  return `${response.status} ${code}`;
};

/** One `subscribe` message of `bytes` bytes on a fresh graphql-ws socket; the close code the router answers with. */
const hugeSubscribe = (url: string, bytes: number) =>
  new Promise<string>((resolve) => {
    const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
    const timer = setTimeout(() => (socket.terminate(), resolve("ws timeout")), 60_000);
    socket.on("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.on("message", (data) => {
      if (JSON.parse(String(data)).type !== "connection_ack") return;
      const padding = " ".repeat(bytes);
      socket.send(`{"id":"1","type":"subscribe","payload":{"query":"subscription { __typename${padding}}"}}`);
    });
    socket.on("close", (code) => (clearTimeout(timer), resolve(`ws ${code}`)));
    socket.on("error", () => undefined);
  });

const aliases = Array.from({ length: 100 }, (_, i) => `p${i}: products(first: 100) { nodes { stock { available } } }`).join(" ");
const deep = (levels: number) => `{ __schema { types { ${"fields { type { ".repeat(levels)}name${" } }".repeat(levels)} } } }`;
const fragmentBomb = [
  "query { ...F0 }",
  ...Array.from({ length: 30 }, (_, i) => `fragment F${i} on Query { ...F${i + 1} ...F${i + 1} }`),
  "fragment F30 on Query { __typename }",
].join("\n");

/** The attacks, each a function of the router's `/graphql` URL. */
export const ATTACKS: Record<string, (url: string) => Promise<string>> = {
  "200 KB of __typename": (url) => post(url, JSON.stringify({ query: `{ ${"__typename ".repeat(20_000)}}` })),
  "4 MB body": (url) => post(url, JSON.stringify({ query: "{ __typename }", variables: { pad: "x".repeat(4 * 1024 * 1024) } })),
  "100 aliased products(first:100)+stock": (url) => post(url, JSON.stringify({ query: `{ ${aliases} }` })),
  "deep nesting": (url) => post(url, JSON.stringify({ query: deep(40) })),
  "fragment bomb": (url) => post(url, JSON.stringify({ query: fragmentBomb })),
  "NUL in searchProducts": (url) => post(url, JSON.stringify({ query: '{ searchProducts(query: "a\\u0000b") { id } }' })),
  "text/plain; x=json": (url) => post(url, JSON.stringify({ query: "{ products(first: 1) { nodes { id } } }" }), "text/plain; x=json"),
  "subgraph introspection via __type": (url) =>
    post(url, JSON.stringify({ query: '{ products(first: 1) { nodes { id } } __type(name: "Query") { fields { name } } }' })),
  "4 MB WebSocket subscribe": (url) => hugeSubscribe(url, 4 * 1024 * 1024),
};

export async function attack(name: string, url: string): Promise<AttackOutcome> {
  const started = performance.now();
  let answer: string;
  try {
    answer = await ATTACKS[name]!(url);
  } catch (error) {
    answer = `error: ${(error as Error).message}`;
  }
  return { attack: name, answer, ms: performance.now() - started };
}
