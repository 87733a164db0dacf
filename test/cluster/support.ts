import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import type { Cluster } from "ioredis";
import { config } from "../harness.ts";
import { isCluster, type Redis as PlatformRedis } from "../../common/redis.ts";
import { ROOT } from "../../scripts/env.ts";
import type { ProductRecord } from "../../subgraphs/product/src/products.ts";

// What the *.cluster.test.ts files share: the Redis Cluster that `npm run test:cluster` started
// (REDIS_CLUSTER_NODES), seen node by node, how to kill one of its masters and start it again, and the same for
// a broker of its 3-broker Kafka (KAFKA_CLUSTER_DIR).

const execFileAsync = promisify(execFile);

/** The seed nodes of the cluster under test; the files fail at once when they are not run by `npm run test:cluster`. */
export function clusterPorts(): number[] {
  const nodes = process.env.REDIS_CLUSTER_NODES ?? "";
  if (!nodes) throw new Error("REDIS_CLUSTER_NODES is not set: run these files with `npm run test:cluster`");
  return nodes.split(",").map((node) => Number(node.slice(node.lastIndexOf(":") + 1)));
}

/** The platform's client (common/redis.ts) on the cluster, checked to be an ioredis Cluster. */
export function asCluster(redis: PlatformRedis): Cluster {
  if (!isCluster(redis)) throw new Error(`REDIS_URL is ${config.REDIS_URL}, not a cluster address`);
  return redis as unknown as Cluster;
}

/** One command on one node, by port (a plain connection: no redirection). */
export async function onNode<T>(port: number, run: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await node.connect();
    return await run(node);
  } finally {
    node.disconnect();
  }
}

export interface NodeView {
  id: string;
  port: number;
  role: "master" | "slave";
  failed: boolean;
  masterId: string | null;
  slots: [number, number][];
}

/** CLUSTER NODES as one node sees it. */
export async function clusterView(port: number): Promise<NodeView[]> {
  const text = await onNode(port, (n) => n.call("CLUSTER", "NODES") as Promise<string>);
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(" ");
      return {
        id: id!,
        port: Number(address!.split("@")[0]!.split(":")[1]),
        role: flags!.includes("master") ? "master" : "slave",
        failed: /fail(?!\?)/.test(flags!) && !flags!.includes("fail?"),
        masterId: master === "-" ? null : master!,
        slots: slots
          .filter((s) => /^\d+(-\d+)?$/.test(s))
          .map((s) => s.split("-").map(Number) as [number, number])
          .map(([a, b]) => [a, b ?? a]),
      } as NodeView;
    });
}

/** The port of the master that serves `key`'s slot, as the node on `askPort` sees it. */
export async function masterPortOf(askPort: number, key: string): Promise<number> {
  const slot = await onNode(askPort, (n) => n.call("CLUSTER", "KEYSLOT", key) as Promise<number>);
  const master = (await clusterView(askPort)).find((v) => v.role === "master" && !v.failed && v.slots.some(([a, b]) => slot >= a && slot <= b));
  if (!master) throw new Error(`no master serves slot ${slot} (key ${key})`);
  return master.port;
}

export const slotOf = (askPort: number, key: string) => onNode(askPort, (n) => n.call("CLUSTER", "KEYSLOT", key) as Promise<number>);

/** SIGKILL the redis-server on `port` (its pid from INFO server): a crash, no goodbye to the cluster. */
export async function killNode(port: number): Promise<number> {
  const info = await onNode(port, (n) => n.info("server"));
  const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
  if (!pid) throw new Error(`no process_id in INFO of port ${port}`);
  process.kill(pid, "SIGKILL");
  return pid;
}

export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`${what} within ${timeoutMs} ms${last ? `; last error: ${String(last)}` : ""}`);
}

/** The master serving `key` and one replica of it that is not failed, by port. */
export async function masterAndReplica(askPort: number, key: string): Promise<{ master: number; replica: number }> {
  const master = await masterPortOf(askPort, key);
  const view = await clusterView(master);
  const self = view.find((v) => v.port === master)!;
  const replica = view.find((v) => v.masterId === self.id && !v.failed);
  if (!replica) throw new Error(`master ${master} has no replica`);
  return { master, replica: replica.port };
}

/** A node killed by `crashNode`: how to start it again. */
export interface CrashedNode {
  port: number;
  pid: number;
  configFile: string;
}

/** SIGKILL the redis-server on `port`, remembering its config file so `restartNode` can bring it back. */
export async function crashNode(port: number): Promise<CrashedNode> {
  const configFile = /config_file:(\S+)/.exec(await onNode(port, (n) => n.info("server")))?.[1];
  if (!configFile) throw new Error(`no config_file in INFO of port ${port}`);
  return { port, configFile, pid: await killNode(port) };
}

/**
 * Starts a crashed node again (it daemonizes; async, so a load running in this process goes on) and waits until
 * the node on `askPort` sees it as a healthy replica: the master that replaced it keeps its slots.
 */
export async function restartNode(node: CrashedNode, askPort: number, timeoutMs = 30_000): Promise<void> {
  await execFileAsync("redis-server", [node.configFile]);
  await eventually(
    async () => (await clusterView(askPort)).some((v) => v.port === node.port && v.role === "slave" && !v.failed),
    timeoutMs,
    `node ${node.port} did not rejoin as a replica`,
    200,
  );
}

/**
 * Waits until the cluster is whole again, as every node tells it: 3 masters serving slots, each with a replica that
 * is not failed, and every replica's link to its master up with no sync in progress. A node started again after a
 * kill rejoins as a replica at once but copies its master's data first; until then a `WAIT` on that master gets no
 * acknowledgement, and a failover there would have nothing to promote. Each failover test starts and ends with it, so
 * no test depends on what another file left behind.
 */
export async function awaitHealthyCluster(ports: number[], timeoutMs = 60_000): Promise<void> {
  await eventually(
    async () => {
      const view = await clusterView(ports[0]!);
      const masters = view.filter((v) => v.role === "master" && !v.failed && v.slots.length > 0);
      if (masters.length !== 3 || view.some((v) => v.failed)) return false;
      if (!masters.every((m) => view.some((v) => v.masterId === m.id && v.role === "slave"))) return false;
      const replicas = view.filter((v) => v.role === "slave");
      const links = await Promise.all(replicas.map((r) => onNode(r.port, (n) => n.info("replication"))));
      return links.every((info) => info.includes("master_link_status:up") && info.includes("master_sync_in_progress:0"));
    },
    timeoutMs,
    "the Redis Cluster did not become whole (3 masters, each with a synced replica)",
    200,
  );
}

/** The brokers' directories of the 3-broker cluster `npm run test:cluster` started (scripts/infra/kafka-cluster.sh). */
export function kafkaClusterDir(): string {
  const dir = process.env.KAFKA_CLUSTER_DIR ?? "";
  if (!dir) throw new Error("KAFKA_CLUSTER_DIR is not set: run these files with `npm run test:cluster`");
  return dir;
}

/** SIGKILL Kafka node `nodeId` (its pid from node-<id>/kafka.pid): a crash, no controlled shutdown. */
export function killBroker(nodeId: number): number {
  const pid = Number(readFileSync(join(kafkaClusterDir(), `node-${nodeId}`, "kafka.pid"), "utf8").trim());
  if (!pid) throw new Error(`no pid for Kafka node ${nodeId}`);
  process.kill(pid, "SIGKILL");
  return pid;
}

/**
 * `infra.sh up` starts the nodes of the cluster that do not run (a killed one rejoins with its data) and waits
 * until they are ready. KAFKA_BROKERS unset: with it, `up` would only check that one of them answers. Async, so
 * a load running in this process goes on while the JVM starts.
 */
export async function restartBrokers(): Promise<void> {
  await execFileAsync("bash", [join(ROOT, "scripts", "infra.sh"), "up"], { cwd: ROOT, env: { ...process.env, KAFKA_BROKERS: "" }, timeout: 180_000 });
}

/** A catalogue product as the product cache holds it, at `priceVersion` (its update time moves with the version). */
export const product = (id: string, priceCents: number, priceVersion: number): ProductRecord => ({
  id,
  sku: `SKU-${id.slice(0, 8)}`,
  name: "Lamp",
  description: "",
  priceCents,
  currency: "USD",
  priceVersion,
  active: true,
  createdAt: new Date(1_000),
  updatedAt: new Date(1_000 + priceVersion),
});
