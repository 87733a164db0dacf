import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { loadConfig } from "../common/config.ts";
import type { Logger } from "../common/logger.ts";
import { SUBGRAPHS } from "../schema/compose.ts";
import { infraUp, ROOT } from "../scripts/env.ts";
import { prepare } from "../scripts/prepare.ts";

/**
 * Benchmarks run the services as separate processes (as in production) on free ports, against their own
 * database (<name>_bench) and topic prefix (`bench.`), so they never touch what `npm start` or `npm test` use.
 */
export async function benchEnv(logger: Logger, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env = infraUp();
  const dbUrl = new URL(env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/flashgraph");
  dbUrl.pathname = `${dbUrl.pathname.replace(/_(test|bench)$/, "")}_bench`;
  Object.assign(env, { DATABASE_URL: dbUrl.toString(), KAFKA_TOPIC_PREFIX: "bench.", NODE_ENV: "production", LOG_LEVEL: "error", SEED: "false", ...extra });
  await prepare(loadConfig(env), logger);
  return env;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(url: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1_000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const ENTRIES: Record<string, { entry: string; portEnv: string }> = {
  product: { entry: "subgraphs/product/src/main.ts", portEnv: "PRODUCT_PORT" },
  inventory: { entry: "subgraphs/inventory/src/main.ts", portEnv: "INVENTORY_PORT" },
  order: { entry: "subgraphs/order/src/main.ts", portEnv: "ORDER_PORT" },
  "flash-sale": { entry: "subgraphs/flash-sale/src/main.ts", portEnv: "FLASH_SALE_PORT" },
};

/** Starts every composed subgraph and the router as child processes; returns their URLs and pids. */
export async function startPlatform(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}) {
  const ports: Record<string, number> = {};
  const childEnv: NodeJS.ProcessEnv = { ...env, ...extra };
  for (const { name, urlEnv } of SUBGRAPHS) {
    ports[name] = await freePort();
    childEnv[ENTRIES[name]!.portEnv] = String(ports[name]);
    childEnv[urlEnv] = `http://127.0.0.1:${ports[name]}/graphql`;
  }
  ports.router = await freePort();
  childEnv.PORT = String(ports.router);
  const children = new Map<string, ChildProcess>();
  // BENCH_PROFILE=<service> writes a V8 CPU profile of that service to .infra/profiles when it stops.
  const profile = (name: string) => (process.env.BENCH_PROFILE === name ? ["--cpu-prof", `--cpu-prof-dir=${ROOT}.infra/profiles`] : []);
  const run = (name: string, entry: string) =>
    children.set(name, spawn(process.execPath, [...profile(name), "--import", "tsx", `${ROOT}${entry}`], { env: childEnv, cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] }));
  for (const { name } of SUBGRAPHS) run(name, ENTRIES[name]!.entry);
  await Promise.all(SUBGRAPHS.map(({ name }) => waitFor(`http://127.0.0.1:${ports[name]}/health`)));
  run("router", "router/src/main.ts");
  await waitFor(`http://127.0.0.1:${ports.router}/health`);
  return {
    url: `http://127.0.0.1:${ports.router}/graphql`,
    ports,
    /** Resident memory of one service's process, in bytes. */
    rss: (name: string) => {
      const status = readFileSync(`/proc/${children.get(name)!.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    stop: async () => {
      await Promise.all([...children.values()].map((child) => new Promise((resolve) => (child.once("exit", resolve), child.kill("SIGTERM")))));
    },
  };
}

/** Percentile of an ascending-sorted array. */
export const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0);
