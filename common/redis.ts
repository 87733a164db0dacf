import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Cluster, Redis, type RedisOptions as ConnectionOptions } from "ioredis";
import { clusterNodesOf } from "./redis-address.ts";
import type { Logger } from "./logger.ts";

export { Redis };

/** True for a client made from a cluster address: its multi-key commands and pipelines must stay within one node. */
export const isCluster = (redis: Redis): boolean => (redis as { isCluster?: boolean }).isCluster === true;

const LUA_DIR = fileURLToPath(new URL("../lua/", import.meta.url));

export interface RedisOptions {
  /** Longest one command may take before it fails, in ms (default 2 000). */
  commandTimeoutMs?: number;
  /** Fail fast instead of queueing commands while disconnected (default true for request paths). */
  enableOfflineQueue?: boolean;
  /**
   * On a cluster, how the scripts defined with `defineReplicatedScript` (common/replicated-scripts.ts) wait for
   * replicas (default: they do not wait). Ignored on one server.
   */
  replicaAck?: ReplicaAckOptions;
}

export interface ReplicaAckOptions {
  /** REDIS_WAIT_REPLICAS: replicas a write must reach before it is answered; 0 does not wait. */
  replicas: number;
  /** REDIS_WAIT_TIMEOUT_MS: longest the wait lasts; past it the write is answered anyway, and counted. */
  timeoutMs: number;
  /** Where a shortfall and a detected failover are reported. */
  logger?: Logger;
}

const replicaAcks = new WeakMap<Redis, ReplicaAckOptions>();

/** The replica acknowledgement a cluster client was made with (none for one server, or when not asked for). */
export const replicaAckOf = (redis: Redis): ReplicaAckOptions | undefined => replicaAcks.get(redis);

/**
 * A Redis client whose commands issued in one event-loop turn leave in ONE socket write: the first command of a
 * turn corks the socket and a `setImmediate` uncorks it, so Node writes them together (`writev`), after the I/O
 * callbacks of that turn, exactly when ioredis's auto-pipelining would have sent them. Under a sale's concurrency
 * the claims and purchase scripts of many requests go out together and come back in one read.
 *
 * Why not `enableAutoPipelining`: it batches through ioredis `Pipeline` objects, and with them nearly every
 * command, its arguments and its reply outlive two young-generation collections and are promoted to the old
 * generation, which costs CPU and longer scavenge pauses on the purchase path (`npm run bench:redis-client`;
 * figures in bench/RESULTS.md). So reads and writes of many keys issue their commands together (`Promise.all`)
 * rather than through `pipeline()`, which on a Redis Cluster would also refuse keys of different nodes.
 */
class CorkedRedis extends Redis {
  private corked = false;

  override sendCommand(...args: Parameters<Redis["sendCommand"]>): unknown {
    const socket = this.stream;
    if (!this.corked && socket && this.status === "ready") {
      this.corked = true;
      socket.cork();
      setImmediate(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    return super.sendCommand(...args);
  }
}

/**
 * The platform's Redis client for `address` (a `redis://` URL, or a `redis-cluster://` address:
 * redis-address.ts). A cluster client is an ioredis `Cluster`, typed as `Redis` because the services use only
 * what both have (commands, `defineCommand`, events, `status`, `quit`); what differs is that a command or a
 * pipeline must name keys of one slot (one node), which every Lua script's hash tag ensures (docs/scale-out.md).
 * Its per-node connections are plain ioredis ones (not corked): the Cluster makes them itself.
 */
export function createRedis(address: string, options: RedisOptions = {}): Redis {
  const nodes = clusterNodesOf(address);
  if (nodes) {
    const cluster = createCluster(nodes, options) as unknown as Redis;
    if (options.replicaAck) replicaAcks.set(cluster, options.replicaAck);
    return cluster;
  }
  return new CorkedRedis(address, {
    commandTimeout: options.commandTimeoutMs ?? 2_000,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: options.enableOfflineQueue ?? true,
    // Batching is CorkedRedis's (above); the connection handshake, before `ready`, is written at once.
    enableAutoPipelining: false,
    lazyConnect: false,
  });
}

function createCluster(nodes: { host: string; port: number }[], options: RedisOptions & { shardedSubscribers?: boolean }): Cluster {
  return new Cluster(nodes, {
    enableOfflineQueue: options.enableOfflineQueue ?? true,
    // Reads go to masters: a replica lags (asynchronous replication), and a stock read must see the last purchase.
    scaleReads: "master",
    // A failover (a replica promoted after cluster-node-timeout) answers CLUSTERDOWN or moves slots meanwhile;
    // commands wait and retry within their commandTimeout rather than failing at the first redirection.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    slotsRefreshTimeout: 2_000,
    slotsRefreshInterval: 2_000,
    shardedSubscribers: options.shardedSubscribers ?? false,
    redisOptions: {
      commandTimeout: options.commandTimeoutMs ?? 2_000,
      connectTimeout: 5_000,
      maxRetriesPerRequest: 2,
      enableAutoPipelining: false,
    },
  });
}

/**
 * A connection for pub/sub only, on which the caller (re)subscribes itself on every `ready`
 * (`autoResubscribe: false`). On a cluster it is a `Cluster` with sharded subscribers: `ssubscribe` reaches the
 * node that owns the channel's slot, and ioredis moves the subscription when that slot moves (failover).
 * `overrides` apply to a single server only.
 */
export function createSubscriber(address: string, overrides: ConnectionOptions = {}): Redis {
  const nodes = clusterNodesOf(address);
  if (nodes) return createCluster(nodes, { shardedSubscribers: true }) as unknown as Redis;
  return new Redis(address, { autoResubscribe: false, connectTimeout: 5_000, maxRetriesPerRequest: 2, ...overrides });
}

/**
 * The values of many string keys: one MGET on one server; on a cluster, where the keys are on many slots (MGET
 * across slots is refused), one GET each, sent together (ioredis sends each to its node).
 */
export function getStrings(redis: Redis, keys: readonly string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return Promise.resolve([]);
  return isCluster(redis) ? Promise.all(keys.map((key) => redis.get(key))) : redis.mget(...keys);
}

/**
 * Publishes on a channel that subscribers made by `createSubscriber` hear (`subscribeSharded`): sharded pub/sub
 * (SPUBLISH) on a cluster, so the message goes only to the node group that owns the channel's slot instead of
 * over the whole cluster bus; classic PUBLISH on one server.
 */
export async function publishSharded(redis: Redis, channel: string, message: string): Promise<void> {
  await (isCluster(redis) ? redis.spublish(channel, message) : redis.publish(channel, message));
}

/** SSUBSCRIBE on a cluster subscriber (messages arrive as `smessage`), SUBSCRIBE on one server (`message`). */
export async function subscribeSharded(subscriber: Redis, channel: string): Promise<void> {
  await (isCluster(subscriber) ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel));
}

/** The event `subscribeSharded`'s messages arrive as: `(channel, message)`. */
export const shardedMessageEvent = (subscriber: Redis) => (isCluster(subscriber) ? "smessage" : "message");

export type ScriptArg = string | number;
export type ScriptRunner = (keys: string[], args: ScriptArg[]) => Promise<unknown>;

/** The command `defineScript` registers `lua/<name>.lua` as (also on the pipelines of that connection). */
export const scriptCommand = (name: string) => `fg_${name}`;

/**
 * Registers `lua/<name>.lua` once on this connection (`defineCommand`: EVALSHA with a fallback to EVAL)
 * and returns a function that runs it. Keys are always passed in KEYS so the script is Cluster-safe.
 */

export function defineScript(redis: Redis, name: string): ScriptRunner {
  const command = scriptCommand(name);
  if (!(command in redis)) redis.defineCommand(command, { lua: readFileSync(`${LUA_DIR}${name}.lua`, "utf8") });
  const run = (redis as unknown as Record<string, (...args: ScriptArg[]) => Promise<unknown>>)[command]!;
  return (keys, args) => run.call(redis, keys.length, ...keys, ...args);
}
