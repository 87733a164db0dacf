import { Counter, Gauge, type Metric, type Registry } from "prom-client";

/**
 * The product subgraph's own series, created unregistered so the cache can exist before the service
 * whose `/metrics` registry exposes them (`registerIn`). Each process has one set.
 */
export function createProductMetrics() {
  const storeQueries = new Counter({
    name: "product_store_queries_total",
    help: "Database round trips made by the product store, by operation (a write transaction counts once; refresh: the Kafka cache refresh).",
    labelNames: ["operation"],
    registers: [],
  });
  const cacheRequests = new Counter({
    name: "cache_requests_total",
    help: "Cache lookups by cache (product, query), level (l1, l2) and result (hit, miss). Negative entries count as hits.",
    labelNames: ["cache", "level", "result"],
    registers: [],
  });
  const cacheLoads = new Counter({
    name: "cache_loads_total",
    help: "Entries loaded into a cache, by cache and source: l2 (into L1 from Redis) or database (into L1 and L2).",
    labelNames: ["cache", "source"],
    registers: [],
  });
  const cacheDatabaseQueries = new Counter({
    name: "cache_database_queries_total",
    help: "Database queries made on cache misses (one per batch of keys, however many requests wait for it).",
    labelNames: ["cache"],
    registers: [],
  });
  const cacheInvalidations = new Counter({
    name: "cache_invalidations_total",
    help: "L1 product evictions by reason: write (this process wrote), pubsub (an instance announced a change), clear (whole L1 emptied after a resubscription).",
    labelNames: ["reason"],
    registers: [],
  });
  const cacheSubscribed = new Gauge({
    name: "cache_invalidation_subscribed",
    help: "1 while this process hears cache invalidations and so may serve from its L1; 0 while it reads through to L2.",
    registers: [],
  });

  for (const cache of ["product", "query"]) {
    for (const level of ["l1", "l2"]) for (const result of ["hit", "miss"]) cacheRequests.inc({ cache, level, result }, 0);
    for (const source of ["l2", "database"]) cacheLoads.inc({ cache, source }, 0);
    cacheDatabaseQueries.inc({ cache }, 0);
  }
  const all: Metric[] = [storeQueries, cacheRequests, cacheLoads, cacheDatabaseQueries, cacheInvalidations, cacheSubscribed];
  return {
    storeQueries,
    cacheRequests,
    cacheLoads,
    cacheDatabaseQueries,
    cacheInvalidations,
    cacheSubscribed,
    /** Adds every series to a service's registry (once per registry). */
    registerIn(registry: Registry) {
      for (const metric of all) registry.registerMetric(metric);
    },
  };
}

export type ProductMetrics = ReturnType<typeof createProductMetrics>;
