import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, expect, test } from "@jest/globals";
import { eventually } from "./eventually.ts";
import { freePort } from "../common/ports.ts";
import { createHttpShell } from "../common/http/shell.ts";
import { createMetrics } from "../common/metrics.ts";

// Subgraphs trust the router's signed identity, but they should not be reachable from the network at all
// unless told so (SUBGRAPH_HOST, default 127.0.0.1; docker-compose.yml sets 0.0.0.0 for its containers).
// 127.0.0.2 is another address of this machine's loopback: a listener on every interface accepts it, one
// bound to 127.0.0.1 does not, so it stands for "any other interface" without needing one.
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null) await new Promise((resolve) => (child.once("exit", resolve), child.kill("SIGTERM")));
  }
});

/** Resolves "open" when a TCP connection to `host:port` is accepted, or the error code that refused it. */
const connect = (host: string, port: number) =>
  new Promise<string>((resolve) => {
    const socket = net.connect({ host, port });
    socket.once("connect", () => (socket.destroy(), resolve("open")));
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
  });

test("the listener of every interface is reachable on 127.0.0.2 (the check below means something)", async () => {
  const shell = createHttpShell({ name: "probe", metrics: createMetrics("probe"), readiness: [] });
  const port = await shell.listen(0, "0.0.0.0");
  try {
    expect(await connect("127.0.0.2", port)).toBe("open");
  } finally {
    shell.httpServer.close();
  }
});

test("a subgraph started by its main.ts listens on 127.0.0.1 only", async () => {
  const port = await freePort();
  const { SUBGRAPH_HOST: _unset, ...env } = process.env; // the default, as `npm start` has it
  const child = spawn(process.execPath, ["--import", "tsx", `${ROOT}subgraphs/product/src/main.ts`], {
    env: { ...env, PRODUCT_PORT: String(port), LOG_LEVEL: "error" },
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.push(child);
  const health = await eventually(async () => (await fetch(`http://127.0.0.1:${port}/health`)).json(), 60_000, "the product subgraph's /health");
  expect(health).toMatchObject({ status: "ok" });
  expect(await connect("127.0.0.2", port)).toBe("ECONNREFUSED");
});
