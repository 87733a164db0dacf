import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import type { Logger } from "../common/logger.ts";
import { freePort } from "../common/ports.ts";
import { SUBGRAPHS } from "../schema/compose.ts";
import { checkHaproxyConfig, haproxyConfig, haproxyMissing, serverName, serverStates, spawnHaproxy, type HaproxySpec } from "./haproxy.ts";
import { createServices, ENTRIES, SERVICE_NAMES, type ServiceExit, type Services } from "./services.ts";
import { ROOT } from "./env.ts";

// Several instances of every service behind HAProxy (`npm run start:cluster`, test/cluster/stack.cluster.test.ts):
// each instance is the platform as `npm start` runs it (scripts/services.ts: every subgraph, then its router),
// on ports of its own; HAProxy has one frontend for the routers (the clients' address) and one per subgraph, and
// every router reaches the subgraphs through those (PRODUCT_URL, ... point at them), so a router's request and
// its subscriptions can go to any instance. Redis and Kafka are whatever `env` names (the clusters).

export interface ClusterLayout {
  /** HAProxy's frontends: the routers' (what clients use), each subgraph's (what the routers use), the stats page. */
  front: { router: number; subgraphs: Record<string, number>; stats: number };
  /** Every instance's port per service name (`router`, `product`, ...). */
  instances: Record<string, number>[];
  /** Where the routers' frontend binds (default 0.0.0.0, as a single router does); the rest binds 127.0.0.1. */
  routerBindHost?: string;
}

/**
 * `npm run start:cluster`'s ports: HAProxy on 4000 (routers) and 4001-4004 (the subgraphs' default ports, so
 * their default URLs lead to HAProxy), its stats on 8404; instance i (1-based) on 4i00 (router) and 4i01-4i04.
 */
export function defaultLayout(instances = 2): ClusterLayout {
  const subgraphPorts = (base: number) => Object.fromEntries(SUBGRAPHS.map((s, i) => [s.name, base + 1 + i]));
  return {
    front: { router: 4000, subgraphs: subgraphPorts(4000), stats: 8404 },
    instances: Array.from({ length: instances }, (_, i) => ({ router: 4000 + 100 * (i + 1), ...subgraphPorts(4000 + 100 * (i + 1)) })),
  };
}

/** The same shape on free ports (tests), HAProxy bound to 127.0.0.1 only. */
export async function freeLayout(instances = 2): Promise<ClusterLayout> {
  const taken = new Set<number>();
  const next = async () => {
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    taken.add(port);
    return port;
  };
  const ports = async (names: string[]) => Object.fromEntries(await Promise.all(names.map(async (n) => [n, await next()] as const)));
  const subgraphNames = SUBGRAPHS.map((s) => s.name);
  const instanceList: Record<string, number>[] = [];
  for (let i = 0; i < instances; i++) instanceList.push(await ports(SERVICE_NAMES));
  return {
    front: { router: await next(), subgraphs: await ports(subgraphNames), stats: await next() },
    instances: instanceList,
    routerBindHost: "127.0.0.1",
  };
}

/** The HAProxy spec of a layout: the routers' backend, then one per subgraph, in composition order. */
export function clusterHaproxySpec(layout: ClusterLayout): HaproxySpec {
  const servers = (name: string) => layout.instances.map((ports) => `127.0.0.1:${ports[name]}`);
  return {
    stats: `127.0.0.1:${layout.front.stats}`,
    forwardFor: true,
    backends: [
      { name: "router", bind: `${layout.routerBindHost ?? "0.0.0.0"}:${layout.front.router}`, servers: servers("router") },
      ...SUBGRAPHS.map((s) => ({ name: s.name, bind: `127.0.0.1:${layout.front.subgraphs[s.name]}`, servers: servers(s.name) })),
    ],
  };
}

/**
 * The same HAProxy in docker-compose.yml's `cluster` profile (docker/haproxy.cfg, written by
 * `npx tsx scripts/compose-haproxy-config.ts`, checked by test/haproxy-config.unit.test.ts): the
 * services are containers `<name>-<i>` on their usual ports, found through Docker's DNS.
 */
export function composeHaproxySpec(instances = 2): HaproxySpec {
  const ports = defaultLayout(instances).front;
  const servers = (name: string, port: number) => Array.from({ length: instances }, (_, i) => `${serverName(name, i)}:${port}`);
  return {
    stats: `:${ports.stats}`,
    forwardFor: true,
    resolver: "127.0.0.11:53",
    backends: [
      { name: "router", bind: `:${ports.router}`, servers: servers("router", ports.router) },
      ...SUBGRAPHS.map((s) => ({ name: s.name, bind: `:${ports.subgraphs[s.name]}`, servers: servers(s.name, ports.subgraphs[s.name]!) })),
    ],
  };
}

export const COMPOSE_HAPROXY_CONFIG = join(ROOT, "docker", "haproxy.cfg");

/** Instance `index`'s environment: its ports, the subgraphs at HAProxy's frontends, HAProxy trusted as a proxy. */
function instanceEnv(env: NodeJS.ProcessEnv, layout: ClusterLayout, index: number): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = {
    ...env,
    // Only HAProxy reaches an instance; it forwards the client's address, which the router then believes.
    HOST: "127.0.0.1",
    TRUSTED_PROXIES: [env.TRUSTED_PROXIES, "127.0.0.1/32"].filter(Boolean).join(","),
  };
  for (const name of SERVICE_NAMES) result[ENTRIES[name]!.portKey] = String(layout.instances[index]![name]);
  for (const { name, urlEnv } of SUBGRAPHS) result[urlEnv] = `http://127.0.0.1:${layout.front.subgraphs[name]}/graphql`;
  return result;
}

export interface ClusterStackOptions {
  /** The environment every instance runs with (REDIS_CLUSTER_NODES, KAFKA_BROKERS, DATABASE_URL, ...); ports are set here. */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  layout: ClusterLayout;
  /** Where haproxy.cfg is written (e.g. `.infra/cluster`). */
  dir: string;
  /** As scripts/services.ts: "inherit" (a terminal) or "capture" (tests; `output(name)`). */
  output?: "inherit" | "capture";
  /** Called when a service or HAProxy exits before `stop()`. */
  onUnexpectedExit?: (name: string, exit: ServiceExit) => void;
  /** How long each service has to answer /health (default 120 s: a busy 2-core machine starts them slowly). */
  healthTimeoutMs?: number;
}

const TAIL_BYTES = 16_384;

/**
 * Starts every instance (one after the other; each its subgraphs, then its router), then HAProxy once they all answer, and
 * waits until HAProxy sees every server UP. `stop()` goes in reverse: HAProxy (no new traffic), then the instances.
 */
export function createClusterStack(options: ClusterStackOptions) {
  const { layout, logger } = options;
  const missing = haproxyMissing();
  if (missing) throw new Error(missing);
  const instances: Services[] = layout.instances.map((_, i) =>
    createServices({
      env: instanceEnv(options.env, layout, i),
      logger,
      output: options.output,
      healthTimeoutMs: options.healthTimeoutMs ?? 120_000,
      onUnexpectedExit: (name, exit) => options.onUnexpectedExit?.(serverName(name, i), exit),
    }),
  );
  const statsUrl = `http://127.0.0.1:${layout.front.stats}/`;
  const configFile = join(options.dir, "haproxy.cfg");
  let haproxy: ChildProcess | null = null;
  let haproxyExit: Promise<unknown> = Promise.resolve();
  let haproxyTail = "";
  let stopping: Promise<void> | null = null;
  const killHaproxy = () => haproxy?.exitCode === null && haproxy.kill("SIGKILL");

  function startHaproxy() {
    mkdirSync(options.dir, { recursive: true });
    writeFileSync(configFile, haproxyConfig(clusterHaproxySpec(layout)));
    checkHaproxyConfig(configFile);
    const child = spawnHaproxy(configFile, options.output ?? "inherit", (chunk) => void (haproxyTail = (haproxyTail + chunk).slice(-TAIL_BYTES)));
    haproxyExit = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        if (!stopping) options.onUnexpectedExit?.("haproxy", { code, signal });
        resolve(null);
      }),
    );
    process.on("exit", killHaproxy);
    haproxy = child;
  }

  async function waitAllUp(timeoutMs = 30_000) {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      if (stopping) throw new Error("stopped while waiting for HAProxy");
      if (haproxy?.exitCode !== null) throw new Error(`HAProxy exited (code ${haproxy?.exitCode}); its output:\n${haproxyTail}`);
      try {
        const states = await serverStates(statsUrl);
        if (states.length && states.every((s) => s.status === "UP")) return;
        last = states.map((s) => `${s.server} ${s.status}`).join(", ");
      } catch (error) {
        last = String(error);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`HAProxy did not see every server UP within ${timeoutMs / 1000} s (${last}); its output:\n${haproxyTail}`);
  }

  return {
    layout,
    instances,
    configFile,
    /** The routers through HAProxy: what a client uses. */
    routerUrl: `http://127.0.0.1:${layout.front.router}/graphql`,
    /** A subgraph through HAProxy (what the routers use). */
    subgraphUrl: (name: string) => `http://127.0.0.1:${layout.front.subgraphs[name]}/graphql`,
    /** One instance of a service directly, bypassing HAProxy (index 0-based). */
    instanceUrl: (name: string, index: number) => `http://127.0.0.1:${layout.instances[index]![name]}/graphql`,
    statsUrl,
    /** Every server's state and connection count, as HAProxy's stats page says. */
    servers: () => serverStates(statsUrl),
    /** HAProxy's last output (with `output: "capture"`). */
    haproxyOutput: () => haproxyTail,
    async start(): Promise<void> {
      // One instance after the other: ten processes starting at once on 2 cores made a product instance miss its
      // 5 s bound for the first invalidation subscription (subgraphs/product/src/cache/invalidation.ts) and exit.
      for (const instance of instances) {
        if (stopping) break;
        await instance.start();
      }
      if (stopping) throw new Error("stopped while starting");
      startHaproxy();
      await waitAllUp();
      logger.info({ instances: instances.length, config: configFile }, "every instance is up behind HAProxy");
    },
    /** HAProxy, then every instance (SIGTERM, SIGKILL after a bound); calling it again returns the same. */
    stop(): Promise<void> {
      return (stopping ??= (async () => {
        if (haproxy?.exitCode === null) haproxy.kill("SIGTERM");
        const timer = setTimeout(killHaproxy, 5_000);
        await haproxyExit;
        clearTimeout(timer);
        process.off("exit", killHaproxy);
        await Promise.all(instances.map((instance) => instance.stop()));
      })());
    },
  };
}

export type ClusterStack = ReturnType<typeof createClusterStack>;
