import type { PrismaClient } from "../../../common/prisma.ts";
import type { StockCounters } from "../../../common/stock.ts";
import type { StockSnapshot } from "../../../common/events.ts";
import { stockChanged } from "../../../common/events.ts";
import { enqueue } from "../../../common/outbox.ts";
import { notFound } from "../../../common/errors.ts";

/**
 * Adds stock: PostgreSQL row, outbox event and Redis counters change together. The row is updated
 * first (locking it against a concurrent load), Redis next, and the commit last; if the commit fails,
 * the Redis delta is taken back.
 */
export function createRestock(prisma: PrismaClient, counters: StockCounters) {
  return async function restock(productId: string, quantity: number): Promise<StockSnapshot> {
    const delta = { available: quantity, reserved: 0, sold: 0 };
    let redisApplied = false;
    try {
      return await prisma.$transaction(async (tx) => {
        const rows = await tx.$queryRaw<{ available: number; reserved: number; sold: number; version: number }[]>`
          UPDATE stock SET available = available + ${quantity}, updated_at = now()
          WHERE product_id = ${productId}::uuid RETURNING available, reserved, sold, version`;
        const row = rows[0];
        if (!row) throw notFound("Product");
        await enqueue(tx, "inventory", stockChanged({ productId, ...row }, "restock", quantity));
        const live = await counters.adjustInTransaction(tx, productId, delta);
        redisApplied = live !== null;
        return live ?? { productId, available: row.available, reserved: row.reserved, sold: row.sold };
      });
    } catch (error) {
      if (redisApplied) await counters.compensate(productId, delta);
      throw error;
    }
  };
}
