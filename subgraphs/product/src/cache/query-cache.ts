import { LRUCache } from "lru-cache";
import type { Redis } from "ioredis";
import type { Logger } from "../../../../common/logger.ts";
import type { ProductMetrics } from "../metrics.ts";
import type { ProductRecord } from "../products.ts";
import type { CacheKeys, CacheOptions } from "./options.ts";

/** What a list or search result is cached as: ids only, so prices come fresh from the product cache. */
export interface IdList {
  ids: string[];
  hasNextPage: boolean;
}

/** A result, with the records when it was just loaded from the database (callers then skip hydration). */
export interface QueryResult {
  list: IdList;
  records?: ProductRecord[];
}

export interface QueryCacheDeps {
  redis: Redis;
  keys: CacheKeys;
  options: CacheOptions;
  metrics: ProductMetrics;
  logger: Logger;
}

/**
 * Read-through cache of list and search results. Every key carries the catalogue generation, which
 * each product write that can change a result bumps in Redis before its mutation returns; reading the
 * generation first makes a new product visible at once on every instance, and old results simply age
 * out. One load per key per instance runs at a time.
 */
export function createQueryCache({ redis, keys, options, metrics, logger }: QueryCacheDeps) {
  const ttlMs = options.queryTtlSeconds * 1000;
  const l1 = new LRUCache<string, IdList>({ max: options.l1Max, ttl: ttlMs, ...(options.now ? { perf: { now: options.now } } : {}) });
  const flights = new Map<string, Promise<QueryResult>>();
  const writes = new Set<Promise<unknown>>();
  const log = logger.child({ component: "query-cache" });
  const count = (level: "l1" | "l2", result: "hit" | "miss") => metrics.cacheRequests.inc({ cache: "query", level, result });

  async function generation(): Promise<string | null> {
    if (redis.status !== "ready") return null;
    try {
      return (await redis.get(keys.generation)) ?? "0";
    } catch (err) {
      log.warn({ err }, "catalogue generation unreadable; reading lists from the database");
      return null;
    }
  }

  async function loadThrough(key: string, load: () => Promise<QueryResult>): Promise<QueryResult> {
    const raw = await redis.get(key).catch(() => null);
    count("l2", raw === null ? "miss" : "hit");
    if (raw !== null) {
      const list = JSON.parse(raw) as IdList;
      metrics.cacheLoads.inc({ cache: "query", source: "l2" });
      l1.set(key, list);
      return { list };
    }
    metrics.cacheDatabaseQueries.inc({ cache: "query" });
    const result = await load();
    metrics.cacheLoads.inc({ cache: "query", source: "database" });
    l1.set(key, result.list);
    if (redis.status !== "ready") return result;
    const write = redis.set(key, JSON.stringify(result.list), "PX", ttlMs).catch((err) => log.warn({ err }, "could not write a result to L2"));
    writes.add(write);
    void write.finally(() => writes.delete(write));
    return result;
  }

  return {
    /** The result of `kind` for `args` (already normalised) under the current generation. */
    async get(kind: "page" | "search", args: string, load: () => Promise<QueryResult>): Promise<QueryResult> {
      const gen = await generation();
      if (gen === null) return load();
      const key = keys.query(gen, kind, args);
      const hit = l1.get(key);
      count("l1", hit ? "hit" : "miss");
      if (hit) return { list: hit };
      let flight = flights.get(key);
      if (!flight) {
        flight = loadThrough(key, load);
        flights.set(key, flight);
        const land = () => flights.get(key) === flight && flights.delete(key);
        flight.then(land, land);
      }
      return flight;
    },
    async drain() {
      await Promise.all([...writes]);
    },
  };
}

export type QueryCache = ReturnType<typeof createQueryCache>;
