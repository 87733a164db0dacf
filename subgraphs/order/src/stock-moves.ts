import type { Tx } from "../../../common/prisma.ts";
import { stockChanged, type InventoryEvent } from "../../../common/events.ts";

/** How an order moves its units between the counters of a stock row. */
export type StockMove = "reserve" | "release" | "commit";

const DELTAS: Record<StockMove, { available: number; reserved: number; sold: number }> = {
  reserve: { available: -1, reserved: 1, sold: 0 },
  release: { available: 1, reserved: -1, sold: 0 },
  commit: { available: 0, reserved: -1, sold: 1 },
};

export interface StockLine {
  productId: string;
  quantity: number;
}

/**
 * Applies the move to PostgreSQL's stock rows inside the caller's transaction and returns one StockChanged
 * event per product with the committed values (UPDATE ... RETURNING). Lines must be sorted by product id:
 * every transaction locks stock rows in that order, so two multi-item orders never deadlock.
 * The rows' CHECK constraint refuses a counter below zero, which fails the whole transaction.
 */
export async function moveStock(tx: Tx, lines: readonly StockLine[], move: StockMove): Promise<InventoryEvent[]> {
  const d = DELTAS[move];
  const events: InventoryEvent[] = [];
  for (const { productId, quantity } of lines) {
    const rows = await tx.$queryRaw<{ available: number; reserved: number; sold: number; version: number }[]>`
      UPDATE stock
      SET available = available + ${d.available * quantity}, reserved = reserved + ${d.reserved * quantity},
          sold = sold + ${d.sold * quantity}, updated_at = now()
      WHERE product_id = ${productId}::uuid
      RETURNING available, reserved, sold, version`;
    const row = rows[0];
    if (!row) throw new Error(`product ${productId} has no stock row`);
    events.push(stockChanged({ productId, ...row }, move, quantity));
  }
  return events;
}
