import type { Redis } from "ioredis";
import { defineScript, publishSharded } from "../../../../common/redis.ts";
import type { EncodedProduct } from "./codec.ts";
import type { CacheKeys } from "./options.ts";

// Every product is its own key on its own slot (a Redis Cluster spreads them over nodes), so the writes below are
// separate commands sent together, not one pipeline: one round trip on one server, one per node on a cluster.

function putScript(redis: Redis) {
  const put = defineScript(redis, "cache_put");
  return (key: string, entry: EncodedProduct, ttlMs: number) => put([key], [entry.priceVersion, entry.updatedAtMs, entry.json, ttlMs]);
}

/** Puts many products into L2 at once; each keeps a newer copy already there (version-checked in Lua). */
export async function putProducts(redis: Redis, keys: CacheKeys, entries: [id: string, entry: EncodedProduct, ttlMs: number][]) {
  if (entries.length === 0) return;
  const put = putScript(redis);
  await Promise.all(entries.map(([id, entry, ttlMs]) => put(keys.product(id), entry, ttlMs)));
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
 * After a commit, in this order: the new products into L2 (vanished ones out) and the list/search generation
 * bumped, then the invalidation published, so an instance that reloads on hearing it already finds the new
 * values in L2. The publish waits for the writes' answers (one more round trip): on a cluster they are on other
 * nodes than the channel, so only their answers order them. It is sent even when a write failed (the others'
 * L1 must drop the product all the same); the first failure is thrown after it.
 */
export async function publishCommittedChange(redis: Redis, keys: CacheKeys, change: CommittedChange): Promise<void> {
  const put = putScript(redis);
  const writes = await Promise.allSettled([
    ...change.products.map(([id, entry]) => put(keys.product(id), entry, change.ttlMs)),
    ...change.vanishedIds.map((id) => redis.del(keys.product(id))),
    ...(change.catalogueChanged ? [redis.incr(keys.generation)] : []),
  ]);
  await publishSharded(redis, keys.channel, JSON.stringify({ ids: [...change.products.map(([id]) => id), ...change.vanishedIds] }));
  const failed = writes.find((w): w is PromiseRejectedResult => w.status === "rejected");
  if (failed) throw failed.reason;
}
