import { Prisma, type PrismaClient } from "../../../common/prisma.ts";
import type { OrderRecord } from "../../../common/orders/order-record.ts";
import type { PricedLine } from "./pricing.ts";
import { orderStatusChanged } from "./transitions.ts";
import { envelopesSql, outboxInsertSql } from "../../../common/outbox.ts";
import { stockWriterLocksSql } from "../../../common/orders/stock-locks.ts";
import { stockMovesSql } from "./stock-moves.ts";

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

/** A unique violation from a raw statement (Prisma reports those as P2010 with the driver's SQLSTATE). */
export function isRawUniqueViolation(error: unknown): boolean {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError) || error.code !== "P2010") return false;
  const cause = (error.meta as { driverAdapterError?: { cause?: { originalCode?: string } } } | undefined)?.driverAdapterError?.cause;
  return cause?.originalCode === "23505";
}

/**
 * Writes a RESERVED order durably in ONE statement: the order, its lines, its stock moves (the stock journal,
 * stock-moves.ts) and its OrderStatusChanged event. It reads the stock rows but locks and updates none: every order
 * of a hot product would otherwise queue on that product's row. The stock aggregator folds the moves into the rows
 * (and sends StockChanged) in batches. The statement holds the products' rebuild locks shared (stock-locks.ts);
 * writers never wait for each other there. Every part is conditional on every product having a stock row, so the
 * statement writes everything or nothing. The order's unique keys make a duplicate fail (isRawUniqueViolation).
 * Returns null when a product has no stock row (nothing written).
 */
export async function recordReservedOrder(prisma: PrismaClient, order: NewOrder): Promise<OrderRecord | null> {
  const at = new Date();
  const record: OrderRecord = {
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
  const ids = order.lines.map((l) => l.productId);
  const quantities = order.lines.map((l) => l.quantity);
  const prices = order.lines.map((l) => l.unitPriceCents);
  const [result] = await prisma.$queryRaw<{ moved: number }[]>`
    WITH gate AS (${stockWriterLocksSql(ids)}
    ), complete AS (
      SELECT count(*) = ${ids.length} AS ok FROM stock WHERE product_id = ANY(${ids}::uuid[]) AND (SELECT locks FROM gate) >= 0
    ), new_order AS (
      INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, total_cents, currency, reserved_until, created_at, updated_at)
      SELECT ${order.id}::uuid, ${order.userId}, ${order.idempotencyKey}, ${order.requestHash}, 'RESERVED', ${order.totalCents},
             ${order.currency}, ${order.reservedUntil}, ${at}, ${at}
      WHERE (SELECT ok FROM complete)
    ), new_lines AS (
      INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
      SELECT ${order.id}::uuid, l.product_id, l.quantity, l.price
      FROM unnest(${ids}::uuid[], ${quantities}::int[], ${prices}::int[]) AS l(product_id, quantity, price)
      WHERE (SELECT ok FROM complete)
    ), moved AS (
      INSERT INTO stock_moves (product_id, order_id, available, reserved, sold)
      SELECT * FROM (${stockMovesSql(order.id, order.lines, "reserve")}) m WHERE (SELECT ok FROM complete)
      RETURNING 1
    ), events AS (${outboxInsertSql({
      topic: "order",
      envelopes: Prisma.sql`${envelopesSql([orderStatusChanged(record, null)])} WHERE (SELECT ok FROM complete)`,
    })})
    SELECT (SELECT count(*)::int FROM moved) AS moved`;
  return result?.moved === ids.length ? record : null;
}
