import { Counter } from "prom-client";
import { defineScript, isCluster, replicaAckOf, scriptCommand, type Redis, type ScriptArg, type ScriptRunner } from "./redis.ts";

// Scripts whose answer a buyer relies on after a Redis master fails (docs/scale-out.md, "A master fails"). Redis
// replicates asynchronously: a master answers a script before its replica has the change, and a replica promoted
// after the master died may not have it. On a Redis Cluster made with `replicaAck` (REDIS_WAIT_REPLICAS > 0) each
// call is answered only after `WAIT <replicas> <timeoutMs>` came back from the node that ran it, so an answered
// write is on a replica too. On one server nothing changes: `defineReplicatedScript` is `defineScript`.
//
// WAIT blocks the connection it is sent on, and every process has one connection per node: a WAIT per call would
// make the calls on that node wait for each other's replica round trips. So the calls of one event-loop turn are
// sent together, per hash tag, in one pipeline closed by one WAIT (a group commit): the scripts run one after the
// other as before, and the one WAIT covers them all, since it waits for everything the connection wrote. A pipeline
// goes to the node owning its keys' slot (ioredis sends a cluster pipeline to one node, keyless WAIT included).

/** Answers given before enough replicas acknowledged the write: the write is on its master only. */
export const replicaAckShortfalls = new Counter({
  name: "redis_replica_ack_shortfalls_total",
  help: "Script calls answered although fewer replicas than REDIS_WAIT_REPLICAS acknowledged them within REDIS_WAIT_TIMEOUT_MS.",
  labelNames: ["script"],
  registers: [],
});

/** A script run first in every pipeline, on the same node and connection as the calls after it. */
export interface LeadingScript {
  name: string;
  keys: string[];
  args: ScriptArg[];
  /** Its reply, once per pipeline; an error fails every call of the pipeline. */
  onReply?: (reply: unknown) => void;
}

export interface ReplicatedScriptOptions {
  /** Run before the calls of each pipeline, on a cluster only (the order subgraph's failover check). */
  leading?: LeadingScript;
}

interface Call {
  keys: string[];
  args: ScriptArg[];
  resolve: (reply: unknown) => void;
  reject: (error: unknown) => void;
}

/** Calls are grouped by the hash tag of their first key: one tag is one slot, so one pipeline reaches one node. */
const tagOf = (key: string) => /\{([^}]+)\}/.exec(key)?.[1] ?? key;

/** Shortfalls are logged at most this often per script (every call is counted). */
const WARN_EVERY_MS = 1_000;

/**
 * `lua/<name>.lua` as `defineScript` runs it, answered once `replicaAck.replicas` replicas have its write (or the
 * wait timed out: counted, logged, answered anyway). On one server, and on a cluster client made without
 * `replicaAck` or with 0 replicas and no `leading` script, it is exactly `defineScript`.
 */
export function defineReplicatedScript(redis: Redis, name: string, options: ReplicatedScriptOptions = {}): ScriptRunner {
  const direct = defineScript(redis, name);
  const ack = replicaAckOf(redis);
  const replicas = ack?.replicas ?? 0;
  const { leading } = options;
  if (!isCluster(redis) || (replicas === 0 && !leading)) return direct;
  if (leading) defineScript(redis, leading.name);
  const batches = new Map<string, Call[]>();
  let warnedAt = 0;

  function shortfall(calls: number, acked: number, error: unknown) {
    replicaAckShortfalls.inc({ script: name }, calls);
    if (!ack?.logger || Date.now() - warnedAt < WARN_EVERY_MS) return;
    warnedAt = Date.now();
    ack.logger.warn(
      { script: name, calls, acked, wanted: replicas, timeoutMs: ack.timeoutMs, err: error ?? undefined },
      "answered a Redis write no replica acknowledged in time: it is on its master only until a replica catches up",
    );
  }

  async function send(calls: Call[]) {
    const pipeline = redis.pipeline();
    const queue = pipeline as unknown as Record<string, (...args: ScriptArg[]) => unknown>;
    if (leading) queue[scriptCommand(leading.name)]!(leading.keys.length, ...leading.keys, ...leading.args);
    for (const call of calls) queue[scriptCommand(name)]!(call.keys.length, ...call.keys, ...call.args);
    if (replicas > 0) pipeline.wait(replicas, ack!.timeoutMs);
    let results: [Error | null, unknown][];
    try {
      results = (await pipeline.exec()) ?? [];
    } catch (error) {
      for (const call of calls) call.reject(error);
      return;
    }
    const first = leading ? 1 : 0;
    if (leading) {
      const [error, reply] = results[0] ?? [new Error(`no reply to ${leading.name}`), null];
      // The calls ran without the check: their outcome cannot be trusted, so none is answered as a success.
      if (error) return calls.forEach((call) => call.reject(error));
      leading.onReply?.(reply);
    }
    if (replicas > 0) {
      const [error, reply] = results[results.length - 1] ?? [null, 0];
      const acked = error ? 0 : Number(reply);
      if (acked < replicas) shortfall(calls.length, acked, error);
    }
    calls.forEach((call, i) => {
      const [error, reply] = results[first + i] ?? [new Error(`no reply to ${name}`), null];
      if (error) call.reject(error);
      else call.resolve(reply);
    });
  }

  function flush() {
    const ready = [...batches.values()];
    batches.clear();
    for (const calls of ready) void send(calls);
  }

  return (keys, args) =>
    new Promise((resolve, reject) => {
      if (batches.size === 0) setImmediate(flush);
      const tag = tagOf(keys[0] ?? "");
      const batch = batches.get(tag);
      const call = { keys, args, resolve, reject };
      if (batch) batch.push(call);
      else batches.set(tag, [call]);
    });
}
