import { Redis } from "ioredis";
import type { Cluster } from "ioredis";
import { config } from "../harness.ts";
import { isCluster, type Redis as PlatformRedis } from "../../common/redis.ts";

// What the *.cluster.test.ts files share: the Redis Cluster that `npm run test:cluster` started
// (REDIS_CLUSTER_NODES), seen node by node, and how to kill one of its masters.

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
