import { LRUCache } from "lru-cache";
import type { Redis } from "ioredis";
import type { Logger } from "../../../../common/logger.ts";
import { getStrings } from "../../../../common/redis.ts";
import type { ProductRecord } from "../products.ts";
import type { ProductMetrics } from "../metrics.ts";
import { decodeEntry, encodeProduct, MISSING, type EncodedProduct } from "./codec.ts";
import type { CacheKeys, CacheOptions } from "./options.ts";
import { putProducts } from "./l2-writes.ts";

type Loaded = ProductRecord | null;
/** Loads the products that exist among `ids` from PostgreSQL (one query). */
export type LoadProducts = (ids: string[]) => Promise<ProductRecord[]>;

/** One load in progress for one id; an invalidation marks it stale so its result never enters L1. */
interface Flight {
  promise: Promise<Loaded>;
  stale: boolean;
}

export interface ProductCacheDeps {
  redis: Redis;
  keys: CacheKeys;
  options: CacheOptions;
  metrics: ProductMetrics;
  logger: Logger;
}

/**
 * Products by id through L1 (this process, LRU with TTL) and L2 (Redis). Per id, at most one load runs
 * in this process: callers that miss while it runs wait for it, so a cold product costs one L2 read
 * and at most one database query per instance however many requests want it. Unknown ids are kept as
 * misses for `negativeTtlMs`. L1 is used only while `live` (the invalidation subscriber is connected).
 */
export function createProductCache({ redis, keys, options, metrics, logger }: ProductCacheDeps) {
  const l1 = new LRUCache<string, { value: Loaded }>({
    max: options.l1Max,
    ttl: options.l1TtlMs,
    ...(options.now ? { perf: { now: options.now } } : {}),
  });
  const flights = new Map<string, Flight>();
  const writes = new Set<Promise<unknown>>();
  let live = false;
  let epoch = 0; // bumped by every local invalidation; primes that started before one are dropped
  const log = logger.child({ component: "product-cache" });
  const count = (level: "l1" | "l2", result: "hit" | "miss", n = 1) => metrics.cacheRequests.inc({ cache: "product", level, result }, n);

  const remember = (id: string, value: Loaded) => l1.set(id, { value }, value === null ? { ttl: options.negativeTtlMs } : {});

  /** Writes loaded values back to L2 off the request path; close() waits for the ones still running. */
  function writeBack(entries: [string, EncodedProduct, number][]) {
    if (redis.status !== "ready") return;
    const write = putProducts(redis, keys, entries).catch((err) => log.warn({ err }, "could not write products to L2"));
    writes.add(write);
    void write.finally(() => writes.delete(write));
  }

  async function readL2(ids: string[]): Promise<Map<string, Loaded>> {
    const found = new Map<string, Loaded>();
    try {
      // While Redis is away, go straight to the database instead of queueing behind a reconnect.
      const raws = redis.status === "ready" ? await getStrings(redis, ids.map(keys.product)) : [];
      raws.forEach((raw, i) => raw !== null && found.set(ids[i]!, decodeEntry(raw)));
    } catch (err) {
      log.warn({ err }, "L2 read failed; loading from the database");
    }
    count("l2", "hit", found.size);
    count("l2", "miss", ids.length - found.size);
    metrics.cacheLoads.inc({ cache: "product", source: "l2" }, found.size);
    return found;
  }

  async function loadBatch(ids: string[], batch: Map<string, Flight>, load: LoadProducts): Promise<Map<string, Loaded>> {
    const found = await readL2(ids);
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) {
      metrics.cacheDatabaseQueries.inc({ cache: "product" });
      const byId = new Map((await load(missing)).map((r) => [r.id, r]));
      metrics.cacheLoads.inc({ cache: "product", source: "database" }, missing.length);
      const negativeMs = options.negativeTtlMs;
      const positiveMs = options.l2TtlSeconds * 1000;
      writeBack(
        missing.map((id) => {
          const record = byId.get(id) ?? null;
          found.set(id, record);
          return [id, record ? encodeProduct(record) : MISSING, record ? positiveMs : negativeMs];
        }),
      );
    }
    for (const [id, flight] of batch) if (live && !flight.stale) remember(id, found.get(id) ?? null);
    return found;
  }

  /** Products for `ids` in order (null where none exists): L1, then L2 for the rest, then the database. */
  async function getMany(ids: readonly string[], load: LoadProducts): Promise<Loaded[]> {
    const pending = new Map<string, Promise<Loaded>>();
    const toLoad: string[] = [];
    for (const id of new Set(ids)) {
      const hit = live ? l1.get(id) : undefined;
      if (live) count("l1", hit ? "hit" : "miss");
      if (hit) pending.set(id, Promise.resolve(hit.value));
      else if (flights.has(id)) pending.set(id, flights.get(id)!.promise);
      else toLoad.push(id);
    }
    if (toLoad.length > 0) {
      const batch = new Map<string, Flight>();
      const loading = loadBatch(toLoad, batch, load); // reads `batch` only after its first await: filled below by then
      for (const id of toLoad) {
        const flight: Flight = { promise: loading.then((found) => found.get(id) ?? null), stale: false };
        batch.set(id, flight);
        flights.set(id, flight);
        pending.set(id, flight.promise);
      }
      const land = () => batch.forEach((flight, id) => flights.get(id) === flight && flights.delete(id));
      loading.then(land, land);
    }
    return Promise.all(ids.map((id) => pending.get(id)!));
  }

  /** Drops ids from L1 and detaches their loads in progress, which may have read the old value. */
  function dropLocal(ids: readonly string[]) {
    epoch++;
    for (const id of ids) {
      l1.delete(id);
      const flight = flights.get(id);
      if (flight) {
        flight.stale = true;
        flights.delete(id);
      }
    }
  }

  return {
    getMany,
    dropLocal,
    /** Empties L1 (after missed invalidations): every load in progress is detached too. */
    clearLocal() {
      epoch++;
      l1.clear();
      for (const flight of flights.values()) flight.stale = true;
      flights.clear();
    },
    /** Marks the current moment; `prime` with it later is ignored if an invalidation came in between. */
    mark: () => epoch,
    /** Adds products just read from the database (a list or search miss) to L1 and L2. */
    prime(records: ProductRecord[], mark: number) {
      if (records.length === 0) return;
      if (live && mark === epoch) for (const r of records) remember(r.id, r);
      writeBack(records.map((r) => [r.id, encodeProduct(r), options.l2TtlSeconds * 1000]));
    },
    /** L1 serves only while invalidations can reach it; otherwise every read goes to L2. */
    setLive(value: boolean) {
      live = value;
      metrics.cacheSubscribed.set(value ? 1 : 0);
    },
    get live() {
      return live;
    },
    get l1Size() {
      return l1.size;
    },
    /** Waits for background L2 writes. */
    async drain() {
      await Promise.all([...writes]);
    },
  };
}

export type ProductCache = ReturnType<typeof createProductCache>;
