import type { ChainableCommander, Redis } from "ioredis";
import { defineScript } from "../../../../common/redis.ts";
import type { EncodedProduct } from "./codec.ts";
import type { CacheKeys } from "./options.ts";

/** `lua/cache_put.lua` as queued on a pipeline: ioredis adds commands defined on a connection to its pipelines. */
type PutCommand = (numKeys: 1, key: string, priceVersion: number, updatedAtMs: number, json: string, ttlMs: number) => ChainableCommander;

function queuePut(pipeline: ChainableCommander, key: string, entry: EncodedProduct, ttlMs: number) {
  const put = (pipeline as unknown as Record<string, PutCommand>).fg_cache_put!;
  put.call(pipeline, 1, key, entry.priceVersion, entry.updatedAtMs, entry.json, ttlMs);
}

/** Runs a pipeline and throws the first command error, which `exec` only reports in its replies. */
async function execOrThrow(pipeline: ChainableCommander): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([error]) => error);
  if (failed) throw failed[0];
  return replies.map(([, value]) => value);
}

/** Puts many products into L2 in one round trip; each keeps a newer copy already there (version-checked in Lua). */
export async function putProducts(redis: Redis, keys: CacheKeys, entries: [id: string, entry: EncodedProduct, ttlMs: number][]) {
  if (entries.length === 0) return;
  defineScript(redis, "cache_put");
  const pipeline = redis.pipeline();
  for (const [id, entry, ttlMs] of entries) queuePut(pipeline, keys.product(id), entry, ttlMs);
  await execOrThrow(pipeline);
}

export interface CommittedChange {
  /** Products as they are now in PostgreSQL. */
  products: [id: string, entry: EncodedProduct][];
  /** Ids the database no longer has: their L2 entries go too. */
  vanishedIds: string[];
  /** True when the change can alter which products a list or search returns. */
  catalogueChanged: boolean;
  ttlMs: number;
}

/**
 * After a commit, in one round trip and in this order: the new products into L2 (vanished ones out),
 * the list/search generation bumped, then the invalidation published, so an instance that reloads on
 * hearing it already finds the new values in L2.
 */
export async function publishCommittedChange(redis: Redis, keys: CacheKeys, change: CommittedChange): Promise<void> {
  defineScript(redis, "cache_put");
  const pipeline = redis.pipeline();
  for (const [id, entry] of change.products) queuePut(pipeline, keys.product(id), entry, change.ttlMs);
  if (change.vanishedIds.length > 0) pipeline.del(...change.vanishedIds.map(keys.product));
  if (change.catalogueChanged) pipeline.incr(keys.generation);
  pipeline.publish(keys.channel, JSON.stringify({ ids: [...change.products.map(([id]) => id), ...change.vanishedIds] }));
  await execOrThrow(pipeline);
}
