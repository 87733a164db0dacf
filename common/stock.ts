import type { Redis } from "ioredis";
import type { PrismaClient, Tx } from "./prisma.ts";
import { defineScript } from "./redis.ts";
import type { StockSnapshot } from "./events.ts";

/**
 * Regular (non-flash-sale) stock counters live in one Redis hash per product. All of them share the
 * `{stock}` hash tag so a multi-item reservation is one script on one Redis Cluster slot; flash-sale
 * stock has its own keys and tags per sale item.
 */
export const stockKey = (productId: string) => `{stock}:${productId}`;

type Counts = Omit<StockSnapshot, "productId">;
const zero = (productId: string): StockSnapshot => ({ productId, available: 0, reserved: 0, sold: 0 });

export function createStockCounters(redis: Redis, prisma: PrismaClient) {
  const load = defineScript(redis, "stock_load");
  const adjustScript = defineScript(redis, "stock_adjust");

  /**
   * Copies PostgreSQL's counters into Redis for keys Redis does not have. The rows are read FOR SHARE
   * and written to Redis before the transaction ends, so a concurrent restock (which updates the row,
   * then Redis, then commits) is either wholly before this load or applies its delta after it.
   */
  async function loadFromDatabase(productIds: string[]): Promise<Map<string, StockSnapshot>> {
    return prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<(Counts & { product_id: string })[]>`
        SELECT product_id::text, available, reserved, sold FROM stock WHERE product_id = ANY(${productIds}::uuid[]) FOR SHARE`;
      const loaded = new Map<string, StockSnapshot>();
      await Promise.all(
        rows.map(async (row) => {
          const [available, reserved, sold] = (await load([stockKey(row.product_id)], [row.available, row.reserved, row.sold])) as number[];
          loaded.set(row.product_id, { productId: row.product_id, available: available!, reserved: reserved!, sold: sold! });
        }),
      );
      return loaded;
    });
  }

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

  return { read, loadFromDatabase, adjustInTransaction, compensate };
}

export type StockCounters = ReturnType<typeof createStockCounters>;
