import { Prisma, queryRows, type PrismaClient } from "../../../common/prisma.ts";
import type { OrderRecord } from "../../../common/orders/order-record.ts";
import type { PricedLine } from "./pricing.ts";
import { orderStatusChanged } from "./transitions.ts";
import { envelopesSql, outboxInsertSql } from "../../../common/outbox.ts";
import { stockWriterLocksSql } from "../../../common/orders/stock-locks.ts";
import { insertStockMovesSql } from "./stock-moves.ts";

export interface NewOrder {
  id: string;
  userId: string;
  idempotencyKey: string;
  requestHash: string;
  totalCents: number;
  currency: string;
  reservedUntil: Date;
  /** Sorted by product id. */
  lines: PricedLine[];
}

/** What became of one order of a batch (recordReservedOrders). */
export type RecordOutcome =
  | { written: true; order: OrderRecord }
  /** An order with this id or this user's key exists already (its Redis reservation was lost): nothing written. */
  | { written: false; reason: "duplicate" }
  /** A product has no stock row: nothing written. */
  | { written: false; reason: "no_stock_row" };

function recordOf(order: NewOrder, at: Date): OrderRecord {
  return {
    id: order.id,
    userId: order.userId,
    idempotencyKey: order.idempotencyKey,
    requestHash: order.requestHash,
    status: "RESERVED",
    totalCents: order.totalCents,
    currency: order.currency,
    reservedUntil: order.reservedUntil,
    cancelReason: null,
    flashSaleId: null,
    createdAt: at,
    updatedAt: at,
    items: order.lines.map((l) => ({ orderId: order.id, ...l })),
  };
}

/**
 * Writes RESERVED orders durably, many in ONE statement (placeOrder batches the orders of concurrent requests,
 * common/batching.ts): each order, its lines, its stock moves (the stock journal, stock-moves.ts) and its
 * OrderStatusChanged event. It reads the products' stock rows but locks and updates none: every order of a hot
 * product would otherwise queue on that product's row. The stock aggregator folds the moves into the rows (and sends
 * StockChanged) in batches. The statement holds the products' rebuild locks shared (stock-locks.ts); writers never
 * wait for each other there. Each order is written wholly or not at all: not when one of its products has no stock
 * row, nor when its id or its user's key is taken (`ON CONFLICT DO NOTHING`: a duplicate does not fail the others).
 * Answers one outcome per order, in order.
 */
export async function recordReservedOrders(prisma: PrismaClient, orders: readonly NewOrder[]): Promise<RecordOutcome[]> {
  const at = new Date();
  const records = orders.map((o) => recordOf(o, at));
  const lines = orders.flatMap((o) => o.lines.map((l) => ({ orderId: o.id, ...l })));
  const [result] = await queryRows<{ complete: string[] | null; written: string[] | null }>(
    prisma,
    Prisma.sql`
    WITH gate AS (${stockWriterLocksSql(lines.map((l) => l.productId))}
    ), input_orders AS (
      SELECT * FROM unnest(${orders.map((o) => o.id)}::uuid[], ${orders.map((o) => o.userId)}::text[],
                           ${orders.map((o) => o.idempotencyKey)}::text[], ${orders.map((o) => o.requestHash)}::text[],
                           ${orders.map((o) => o.totalCents)}::int[], ${orders.map((o) => o.currency)}::text[],
                           ${orders.map((o) => o.reservedUntil)}::timestamptz[])
        AS o(id, user_id, idempotency_key, request_hash, total_cents, currency, reserved_until)
    ), input_lines AS (
      SELECT * FROM unnest(${lines.map((l) => l.orderId)}::uuid[], ${lines.map((l) => l.productId)}::uuid[],
                           ${lines.map((l) => l.quantity)}::int[], ${lines.map((l) => l.unitPriceCents)}::int[])
        AS l(order_id, product_id, quantity, price)
    ), complete AS (
      SELECT o.id FROM input_orders o
      WHERE (SELECT locks FROM gate) >= 0
        AND NOT EXISTS (SELECT 1 FROM input_lines l WHERE l.order_id = o.id
                        AND NOT EXISTS (SELECT 1 FROM stock s WHERE s.product_id = l.product_id))
    ), new_orders AS (
      INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, total_cents, currency, reserved_until, created_at, updated_at)
      SELECT o.id, o.user_id, o.idempotency_key, o.request_hash, 'RESERVED', o.total_cents, o.currency, o.reserved_until, ${at}, ${at}
      FROM input_orders o WHERE o.id IN (SELECT id FROM complete)
      ON CONFLICT DO NOTHING
      RETURNING id
    ), new_lines AS (
      INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
      SELECT l.order_id, l.product_id, l.quantity, l.price FROM input_lines l WHERE l.order_id IN (SELECT id FROM new_orders)
    ), moved AS (${insertStockMovesSql(
      Prisma.sql`SELECT product_id, order_id, quantity FROM input_lines WHERE order_id IN (SELECT id FROM new_orders)`,
      "reserve",
    )}), events AS (${outboxInsertSql({
      topic: "order",
      envelopes: Prisma.sql`SELECT e FROM (${envelopesSql(records.map((r) => orderStatusChanged(r, null)))}) AS s(e)
        WHERE (e->>'aggregateId')::uuid IN (SELECT id FROM new_orders)`,
    })})
    SELECT (SELECT array_agg(id::text) FROM complete) AS complete, (SELECT array_agg(id::text) FROM new_orders) AS written`,
  );
  const complete = new Set(result?.complete ?? []);
  const written = new Set(result?.written ?? []);
  return records.map((order) =>
    written.has(order.id) ? { written: true, order } : { written: false, reason: complete.has(order.id) ? "duplicate" : "no_stock_row" },
  );
}
