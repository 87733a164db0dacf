import type { Redis, RedisOptions } from "ioredis";
import type { Logger } from "../../../../common/logger.ts";
import type { ProductRecord } from "../products.ts";
import { createProductMetrics, type ProductMetrics } from "../metrics.ts";
import { encodeProduct } from "./codec.ts";
import { cacheKeys, type CacheOptions } from "./options.ts";
import { createProductCache, type LoadProducts } from "./product-cache.ts";
import { createQueryCache } from "./query-cache.ts";
import { publishCommittedChange } from "./l2-writes.ts";
import { createSubscriberConnection, listenForInvalidations } from "./invalidation.ts";

export interface ProductCachingDeps {
  /** Shared command connection (L2 reads and writes, publishing). */
  redis: Redis;
  options: CacheOptions;
  logger: Logger;
  metrics?: ProductMetrics;
}

/**
 * The product subgraph's read cache: products by id, list/search results, and what a committed write
 * does to them. Pure: nothing is subscribed until `connectProductCaching` (or the caller) listens.
 */
export function createProductCaching({ redis, options, logger, metrics = createProductMetrics() }: ProductCachingDeps) {
  const keys = cacheKeys(options.keyPrefix);
  const products = createProductCache({ redis, keys, options, metrics, logger });
  const queries = createQueryCache({ redis, keys, options, metrics, logger });
  const log = logger.child({ component: "product-caching" });

  /**
   * After a write committed: L2 gets the new products, lists and searches move to a new generation
   * when `catalogueChanged`, every instance drops its L1 copies. This process drops its own copies
   * itself, after L2 has the new values, so its next read cannot bring the old one back. Throws when
   * Redis did not take the change (the local L1 is dropped all the same).
   */
  async function announce(records: ProductRecord[], change: { catalogueChanged: boolean; vanishedIds?: string[] }): Promise<void> {
    const vanishedIds = change.vanishedIds ?? [];
    const ids = [...records.map((r) => r.id), ...vanishedIds];
    try {
      if (redis.status !== "ready") throw new Error(`Redis is ${redis.status}`); // fail now, not after a reconnect
      await publishCommittedChange(redis, keys, {
        products: records.map((r) => [r.id, encodeProduct(r)]),
        vanishedIds,
        catalogueChanged: change.catalogueChanged,
        ttlMs: options.l2TtlSeconds * 1000,
      });
    } finally {
      products.dropLocal(ids);
      metrics.cacheInvalidations.inc({ reason: "write" }, ids.length);
    }
  }

  return {
    keys,
    metrics,
    products,
    queries,
    /**
     * `announce` for a mutation that already committed: a Redis failure is logged, not thrown, since
     * the write stands and the Kafka refresh of its event repairs the cache.
     */
    async written(records: ProductRecord[], change: { catalogueChanged: boolean }): Promise<void> {
      try {
        await announce(records, change);
      } catch (err) {
        log.error({ err, ids: records.map((r) => r.id) }, "could not update the cache after a write; the Kafka refresh will");
      }
    },
    /** Re-reads products from the database and announces them (the Kafka refresh); throws so the event is retried. */
    async refresh(ids: string[], load: LoadProducts, change: { catalogueChanged: boolean }): Promise<void> {
      const records = await load(ids);
      const found = new Set(records.map((r) => r.id));
      await announce(records, { ...change, vanishedIds: ids.filter((id) => !found.has(id)) });
    },
    async drain() {
      await Promise.all([products.drain(), queries.drain()]);
    },
  };
}

export type ProductCaching = ReturnType<typeof createProductCaching>;

/**
 * Builds the cache and subscribes it to invalidations on its own connection (needed before L1 is
 * used). `close` unsubscribes and waits for background L2 writes; the shared `redis` stays open.
 */
export async function connectProductCaching(
  deps: ProductCachingDeps & { redisUrl: string; subscriberOptions?: RedisOptions },
): Promise<ProductCaching & { close: () => Promise<void> }> {
  const caching = createProductCaching(deps);
  const subscriber = createSubscriberConnection(deps.redisUrl, deps.subscriberOptions);
  try {
    const listener = await listenForInvalidations({
      subscriber,
      channel: caching.keys.channel,
      cache: caching.products,
      metrics: caching.metrics,
      logger: deps.logger,
    });
    return {
      ...caching,
      close: async () => {
        await listener.close();
        await caching.drain();
      },
    };
  } catch (error) {
    subscriber.disconnect();
    throw error;
  }
}
