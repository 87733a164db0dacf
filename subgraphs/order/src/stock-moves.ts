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
export interface StockLine {
  productId: string;
  quantity: number;
}

/**
 * The INSERT of a move into the stock journal, for the lines `source` selects as `l(product_id, order_id, quantity)`.
 * Orders never update a stock row themselves: a hot product's row would make every order of it wait for the one
 * before to commit. The stock aggregator (stock-aggregator.ts) folds the journal into the rows in batches.
 */
export function insertStockMovesSql(source: Prisma.Sql, move: StockMove): Prisma.Sql {
  const d = DELTAS[move];
  return Prisma.sql`INSERT INTO stock_moves (product_id, order_id, available, reserved, sold)
    SELECT l.product_id, l.order_id, l.quantity * ${d.available}, l.quantity * ${d.reserved}, l.quantity * ${d.sold}
    FROM (${source}) AS l(product_id, order_id, quantity)`;
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
  const source = Prisma.sql`SELECT product_id, ${orderId}::uuid, quantity
    FROM unnest(${lines.map((l) => l.productId)}::uuid[], ${lines.map((l) => l.quantity)}::int[]) AS u(product_id, quantity)`;
  await tx.$executeRaw(insertStockMovesSql(source, move));
}
