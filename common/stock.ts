import type { Redis } from "ioredis";
import type { PrismaClient, Tx } from "./prisma.ts";
import { defineScript } from "./redis.ts";
import type { StockSnapshot } from "./events.ts";
import { createStockRebuild, type StockRebuildOptions } from "./orders/stock-rebuild.ts";

/**
 * Regular (non-flash-sale) stock counters live in one Redis hash per product. All of them share the
 * `{stock}` hash tag so a multi-item reservation is one script on one Redis Cluster slot; flash-sale
 * stock has its own keys and tags per sale item.
 */
export const stockKey = (productId: string) => `{stock}:${productId}`;

type Counts = Omit<StockSnapshot, "productId">;
const zero = (productId: string): StockSnapshot => ({ productId, available: 0, reserved: 0, sold: 0 });

export function createStockCounters(redis: Redis, prisma: PrismaClient, options: StockRebuildOptions = {}) {
  const adjustScript = defineScript(redis, "stock_adjust");
  const rebuild = createStockRebuild(redis, prisma, options);

  /**
   * Copies PostgreSQL's counters into Redis for keys Redis does not have, and restores the reservations of the
   * open orders holding their units (common/orders/stock-rebuild.ts): Redis is a cache of PostgreSQL, also after
   * losing its data. The rows are read FOR SHARE and written to Redis before the transaction ends, so a concurrent
   * restock (which updates the row, then Redis, then commits) is either wholly before this load or applies its
   * delta after it.
   */
  const loadFromDatabase = (productIds: string[]): Promise<Map<string, StockSnapshot>> => rebuild.loadProducts(productIds);

  /** Live counters for many products in one Redis round trip; misses are rebuilt from PostgreSQL. Unknown products read as zero. */
  async function read(productIds: readonly string[]): Promise<StockSnapshot[]> {
    const replies = await Promise.all(productIds.map((id) => redis.hmget(stockKey(id), "available", "reserved", "sold")));
    const result = new Map<string, StockSnapshot>();
    const missing: string[] = [];
    productIds.forEach((id, i) => {
      const [a, r, s] = replies[i]!;
      if (a == null || r == null || s == null) missing.push(id);
      else result.set(id, { productId: id, available: Number(a), reserved: Number(r), sold: Number(s) });
    });
    if (missing.length > 0) for (const [id, snap] of await loadFromDatabase(missing)) result.set(id, snap);
    return productIds.map((id) => result.get(id) ?? zero(id));
  }

  /**
   * Applies deltas to Redis inside the caller's PostgreSQL transaction, after the row was updated (and
   * locked) there. Returns the Redis counters, or null when Redis has no copy (the next read loads it).
   */
  async function adjustInTransaction(_tx: Tx, productId: string, delta: Counts): Promise<StockSnapshot | null> {
    const reply = (await adjustScript([stockKey(productId)], [delta.available, delta.reserved, delta.sold])) as number[];
    if (reply[0] === 0) return null;
    if (reply[0] === -1) throw new Error(`Redis stock for ${productId} would go negative; PostgreSQL and Redis disagree`);
    return { productId, available: reply[1]!, reserved: reply[2]!, sold: reply[3]! };
  }

  /** Undoes `adjustInTransaction` when the transaction it ran in did not commit. */
  async function compensate(productId: string, delta: Counts): Promise<void> {
    await adjustScript([stockKey(productId)], [-delta.available, -delta.reserved, -delta.sold]);
  }

  return {
    read,
    loadFromDatabase,
    adjustInTransaction,
    compensate,
    /** After a loss of all Redis data: every open order's reservation and every buyer's held-units counter. */
    restoreAll: rebuild.restoreAll,
    /** A written order whose reservation Redis lost: restored, with its units added to counters loaded before it. */
    restoreOrder: rebuild.restoreOrder,
  };
}

export type StockCounters = ReturnType<typeof createStockCounters>;
