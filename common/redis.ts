import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

export { Redis };

const LUA_DIR = fileURLToPath(new URL("../lua/", import.meta.url));

export interface RedisOptions {
  /** Longest one command may take before it fails, in ms (default 2 000). */
  commandTimeoutMs?: number;
  /** Fail fast instead of queueing commands while disconnected (default true for request paths). */
  enableOfflineQueue?: boolean;
}

/**
 * A Redis client whose commands issued in one event-loop turn leave in ONE socket write: the first command of a
 * turn corks the socket and a `setImmediate` uncorks it, so Node writes them together (`writev`), after the I/O
 * callbacks of that turn, exactly when ioredis's auto-pipelining would have sent them. Under a sale's concurrency
 * the claims and purchase scripts of many requests go out together and come back in one read.
 *
 * Why not `enableAutoPipelining`: it batches through ioredis `Pipeline` objects, and with them nearly every
 * command, its arguments and its reply outlive two young-generation collections and are promoted to the old
 * generation, which costs CPU and longer scavenge pauses on the purchase path (`npm run bench:redis-client`;
 * figures in bench/RESULTS.md). So reads of many keys issue their commands together (`Promise.all`) rather than
 * through `pipeline()`; only the product cache's L2 writes, whose commands are queued by a shared helper, still
 * build one.
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

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new CorkedRedis(url, {
    commandTimeout: options.commandTimeoutMs ?? 2_000,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: options.enableOfflineQueue ?? true,
    // Batching is CorkedRedis's (above); the connection handshake, before `ready`, is written at once.
    enableAutoPipelining: false,
    lazyConnect: false,
  });
}

type ScriptArg = string | number;

/**
 * Registers `lua/<name>.lua` once on this connection (`defineCommand`: EVALSHA with a fallback to EVAL)
 * and returns a function that runs it. Keys are always passed in KEYS so the script is Cluster-safe.
 */
export function defineScript(redis: Redis, name: string): (keys: string[], args: ScriptArg[]) => Promise<unknown> {
  const command = `fg_${name}`;
  if (!(command in redis)) redis.defineCommand(command, { lua: readFileSync(`${LUA_DIR}${name}.lua`, "utf8") });
  const run = (redis as unknown as Record<string, (...args: ScriptArg[]) => Promise<unknown>>)[command]!;
  return (keys, args) => run.call(redis, keys.length, ...keys, ...args);
}
