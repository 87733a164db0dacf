import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import path from "node:path";
import { loadConfig } from "../common/config.ts";
import type { Logger } from "../common/logger.ts";
import { SUBGRAPHS } from "../schema/compose.ts";
import { ROOT } from "./env.ts";
import { freePort } from "../common/ports.ts";

type PortKey = "PORT" | "PRODUCT_PORT" | "INVENTORY_PORT" | "ORDER_PORT" | "FLASH_SALE_PORT" | "WEB_PORT";

/** Each service's entry point and the config variable that holds its port. */
export const ENTRIES: Record<string, { entry: string; portKey: PortKey }> = {
  product: { entry: "subgraphs/product/src/main.ts", portKey: "PRODUCT_PORT" },
  inventory: { entry: "subgraphs/inventory/src/main.ts", portKey: "INVENTORY_PORT" },
  order: { entry: "subgraphs/order/src/main.ts", portKey: "ORDER_PORT" },
  "flash-sale": { entry: "subgraphs/flash-sale/src/main.ts", portKey: "FLASH_SALE_PORT" },
  router: { entry: "router/src/main.ts", portKey: "PORT" },
  // The storefront's server (web/server/main.ts): only with `storefront: true`, once web/dist is built.
  web: { entry: "web/server/main.ts", portKey: "WEB_PORT" },
};

/** Every service, in start order: the subgraphs (in composition order), then the router in front of them. */
export const SERVICE_NAMES = [...SUBGRAPHS.map((s) => s.name), "router"];

export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServicesOptions {
  /** The environment every service runs with; their ports are read from it (PORT, PRODUCT_PORT, ...). */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /**
   * "inherit" (default): services write to this process's stdout and stderr, as `npm start` shows them.
   * "capture": the last 16 KB each service writes are kept for `output(name)` and start errors, for tests.
   */
  output?: "inherit" | "capture";
  /** Called when a service exits before `stop()` was called (default: nothing). */
  onUnexpectedExit?: (name: string, exit: ServiceExit) => void;
  /** How long each service has to answer `/health` (default 60 s). */
  healthTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before it sends SIGKILL (default 10 s). */
  killAfterMs?: number;
  /** Node.js options for one service, before its entry point (default none; benches pass `--cpu-prof`). */
  nodeArgs?: (name: string) => string[];
  /** Also serve the built storefront (web/dist) on WEB_PORT, after the router (default false; `npm start` sets it). */
  storefront?: boolean;
}

const TAIL_BYTES = 16_384;
const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/**
 * The platform as separate processes (`npm start`, the smoke test): every subgraph, then, once they all answer
 * `/health`, the router. Each is `node --import tsx <entry>` with this process's Node.js.
 */
export function createServices(options: ServicesOptions) {
  const { env, logger } = options;
  const config = loadConfig(env);
  const names = options.storefront ? [...SERVICE_NAMES, "web"] : SERVICE_NAMES;
  const ports = Object.fromEntries(names.map((name) => [name, config[ENTRIES[name]!.portKey]]));
  const children = new Map<string, ChildProcess>();
  const exits = new Map<string, Promise<ServiceExit>>();
  const tails = new Map<string, string>();
  let stopping: Promise<Record<string, ServiceExit>> | null = null;
  const restarting = new Set<string>();
  // Services must not outlive this process, however it ends (a test runner's worker exiting, an error).
  const killAll = () => children.forEach((child) => running(child) && child.kill("SIGKILL"));
  process.on("exit", killAll);

  const output = (name: string) => tails.get(name) ?? "";
  // SERVICE_LOG_DIR=<dir> (in this process's environment) also appends each service's whole output to
  // <dir>/<name>-<port>.log: a test that fails after a long run keeps every warning, not only the tail.
  const logDir = process.env.SERVICE_LOG_DIR;
  const keep = (name: string) => {
    const file = logDir ? createWriteStream(path.join(logDir, `${name}-${ports[name]}.log`), { flags: "a" }) : null;
    return (chunk: Buffer) => {
      file?.write(chunk);
      tails.set(name, (output(name) + chunk.toString("utf8")).slice(-TAIL_BYTES));
    };
  };

  function launch(name: string) {
    const capture = options.output === "capture";
    const child = spawn(process.execPath, [...(options.nodeArgs?.(name) ?? []), "--import", "tsx", `${ROOT}${ENTRIES[name]!.entry}`], {
      env,
      cwd: ROOT,
      stdio: ["ignore", capture ? "pipe" : "inherit", capture ? "pipe" : "inherit"],
    });
    const append = keep(name);
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    const exit = new Promise<ServiceExit>((resolve) =>
      child.once("exit", (code, signal) => {
        if (!stopping && !restarting.has(name)) options.onUnexpectedExit?.(name, { code, signal });
        resolve({ code, signal });
      }),
    );
    children.set(name, child);
    exits.set(name, exit);
  }

  const withOutput = (name: string, message: string) => (output(name) ? `${message}; its last output:\n${output(name)}` : message);

  async function waitHealthy(name: string) {
    const timeoutMs = options.healthTimeoutMs ?? 60_000;
    const url = `http://127.0.0.1:${ports[name]}/health`;
    const child = children.get(name)!;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (stopping) throw new Error(`stopped while waiting for ${name}`);
      if (!running(child))
        throw new Error(withOutput(name, `${name} exited (code ${child.exitCode}, signal ${child.signalCode}) before it answered ${url}`));
      try {
        if ((await fetch(url, { signal: AbortSignal.timeout(1_000) })).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(withOutput(name, `${name} did not answer ${url} within ${timeoutMs / 1000} s`));
  }

  return {
    /** Each service's port, by name (`router` included; `web` with `storefront`). */
    ports,
    routerUrl: `http://127.0.0.1:${ports.router}/graphql`,
    /** The storefront's address (with `storefront`). */
    webUrl: `http://127.0.0.1:${ports.web}/`,
    /** Starts the subgraphs, waits until they answer, then the router; rejects if one fails, or on `stop()`. */
    async start(): Promise<void> {
      const subgraphs = SERVICE_NAMES.filter((name) => name !== "router");
      subgraphs.forEach(launch);
      await Promise.all(subgraphs.map(waitHealthy));
      if (stopping) throw new Error("stopped while starting");
      launch("router");
      await waitHealthy("router");
      if (!options.storefront) return;
      launch("web");
      await waitHealthy("web");
    },
    /**
     * SIGTERM to every running service, SIGKILL to those still running `killAfterMs` later; resolves with how
     * each started service exited (a clean shutdown is code 0: common/runtime.ts). Calling it again returns the same.
     */
    stop(): Promise<Record<string, ServiceExit>> {
      return (stopping ??= (async () => {
        for (const child of children.values()) if (running(child)) child.kill("SIGTERM");
        const timer = setTimeout(killAll, options.killAfterMs ?? 10_000);
        const exited = await Promise.all([...exits].map(async ([name, exit]) => [name, await exit] as const));
        clearTimeout(timer);
        process.off("exit", killAll);
        const killed = exited.filter(([, exit]) => exit.signal === "SIGKILL").map(([name]) => name);
        if (killed.length) logger.warn({ services: killed, afterMs: options.killAfterMs ?? 10_000 }, "killed: still running after SIGTERM");
        return Object.fromEntries(exited);
      })());
    },
    /** SIGTERM to one service, and once it exited, the same service again; resolves when it answers `/health` (tests). */
    async restart(name: string): Promise<void> {
      restarting.add(name);
      children.get(name)?.kill("SIGTERM");
      await exits.get(name);
      launch(name);
      restarting.delete(name);
      await waitHealthy(name);
    },
    /** What a service wrote last (with `output: "capture"`). */
    output,
    /** The process id of a started service. */
    pid: (name: string) => children.get(name)?.pid,
  };
}

export type Services = ReturnType<typeof createServices>;

/** `env` with a free port for every service, and the router pointed at the subgraphs on theirs. */
export async function withFreePorts(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const result = { ...env };
  const taken = new Set<number>();
  for (const name of [...SERVICE_NAMES, "web"]) {
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    result[ENTRIES[name]!.portKey] = String(port);
  }
  for (const { name, urlEnv } of SUBGRAPHS) result[urlEnv] = `http://127.0.0.1:${result[ENTRIES[name]!.portKey]}/graphql`;
  return result;
}
