import type { Config } from "../../../../common/config.ts";

/** How the product read cache behaves; built once from config (`cacheOptionsFromConfig`) and passed down. */
export interface CacheOptions {
  /** Prefix of every Redis key and of the pub/sub channel; processes that share it share the cache. */
  keyPrefix: string;
  /** Most entries in each in-process L1 (products, and list/search results). */
  l1Max: number;
  /** Backstop lifetime of an L1 product entry, in ms; pub/sub evicts changed products long before. */
  l1TtlMs: number;
  /** Lifetime of a product in the Redis L2, in seconds. */
  l2TtlSeconds: number;
  /** Lifetime of a list or search result (L1 and L2), in seconds. */
  queryTtlSeconds: number;
  /** How long an unknown id is remembered as missing (L1 and L2), in ms. */
  negativeTtlMs: number;
  /** Clock for L1 lifetimes, in ms (default `performance.now`); tests pass a fake one. */
  now?: () => number;
}

export function cacheOptionsFromConfig(config: Config): CacheOptions {
  // Test and development databases share one Redis: keys carry the database name so they never mix.
  const database = new URL(config.DATABASE_URL).pathname.replace(/^\//, "") || "default";
  return {
    keyPrefix: config.CACHE_KEY_PREFIX || `fg:${database}:cache:`,
    l1Max: config.CACHE_L1_MAX,
    l1TtlMs: config.CACHE_L1_TTL_MS,
    l2TtlSeconds: config.CACHE_L2_TTL_SECONDS,
    queryTtlSeconds: config.CACHE_QUERY_TTL_SECONDS,
    negativeTtlMs: config.CACHE_NEGATIVE_TTL_MS,
  };
}

/** Every Redis name the cache uses, derived from one prefix. */
export function cacheKeys(prefix: string) {
  return {
    product: (id: string) => `${prefix}product:${id}`,
    /** Bumped by every write that can change which products a list or search returns. */
    generation: `${prefix}catalogue:generation`,
    query: (generation: string, kind: string, args: string) => `${prefix}query:${generation}:${kind}:${args}`,
    /** Pub/sub channel: `{"ids":[...]}` tells every instance to drop those products from its L1. */
    channel: `${prefix}invalidate`,
  };
}

export type CacheKeys = ReturnType<typeof cacheKeys>;
