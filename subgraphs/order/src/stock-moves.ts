import { Prisma, type Tx } from "../../../common/prisma.ts";
import { lockStockShared } from "../../../common/orders/stock-locks.ts";

/** How an order moves its units between the counters of a stock row. */
export type StockMove = "reserve" | "release" | "commit";

const DELTAS: Record<StockMove, { available: number; reserved: number; sold: number }> = {
  reserve: { available: -1, reserved: 1, sold: 0 },
  release: { available: 1, reserved: -1, sold: 0 },
  commit: { available: 0, reserved: -1, sold: 1 },
};

/** How one unit of a move changes each counter. */
export const moveDeltas = (move: StockMove) => DELTAS[move];

export interface StockLine {
  productId: string;
  quantity: number;
}

/**
 * The order's move as rows of the stock journal, a SELECT of (product_id, order_id, available, reserved, sold)
 * for `INSERT INTO stock_moves`. Orders never update a stock row themselves: a hot product's row would make every
 * order of it wait for the one before to commit. The stock aggregator (stock-aggregator.ts) folds the journal
 * into the rows in batches.
 */
export function stockMovesSql(orderId: string, lines: readonly StockLine[], move: StockMove): Prisma.Sql {
  const d = DELTAS[move];
  return Prisma.sql`SELECT l.product_id, ${orderId}::uuid, l.quantity * ${d.available}, l.quantity * ${d.reserved}, l.quantity * ${d.sold}
    FROM unnest(${lines.map((l) => l.productId)}::uuid[], ${lines.map((l) => l.quantity)}::int[]) AS l(product_id, quantity)`;
}

/**
 * Appends the move to the stock journal inside the caller's transaction, holding the products' rebuild locks
 * shared until it ends (common/orders/stock-locks.ts), so a rebuild of Redis from PostgreSQL sees the move and
 * the order's new status together or neither.
 */
export async function journalStockMove(tx: Tx, orderId: string, lines: readonly StockLine[], move: StockMove): Promise<void> {
  await lockStockShared(
    tx,
    lines.map((l) => l.productId),
  );
  await tx.$executeRaw`INSERT INTO stock_moves (product_id, order_id, available, reserved, sold) ${stockMovesSql(orderId, lines, move)}`;
}
