import { Prisma, type PrismaClient } from "../../../common/prisma.ts";
import { stockChanged } from "../../../common/events.ts";
import type { OrderRecord } from "../../../common/orders/order-record.ts";
import type { PricedLine } from "./pricing.ts";
import { orderStatusChanged } from "./transitions.ts";
import { envelopesSql, outboxInsertSql } from "../../../common/outbox.ts";

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
 * Writes a RESERVED order durably in ONE statement: the order, its lines, the stock rows' move from available
 * to reserved, and the outbox events (OrderStatusChanged, and StockChanged with the counters the UPDATE
 * returned). A single statement is its own transaction, so the stock rows (which every order for a hot
 * product queues on) stay locked only while PostgreSQL runs it and commits, never across a round trip to
 * this process. The rows are locked in product id order (`locked`), like every other stock write, so
 * multi-item orders cannot deadlock; every part is conditional on all rows being locked, so the statement
 * writes everything or nothing. The order's unique keys make a duplicate fail (isRawUniqueViolation).
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
  // Envelopes are made here, where every event is made; the statement only fills in the committed counters.
  const orderEvent = orderStatusChanged(record, null);
  const stockEvents = order.lines.map((l) =>
    stockChanged({ productId: l.productId, available: 0, reserved: 0, sold: 0, version: 0 }, "reserve", l.quantity),
  );
  const [result] = await prisma.$queryRaw<{ moved: number }[]>`
    WITH locked AS (
      SELECT product_id FROM stock WHERE product_id = ANY(${ids}::uuid[]) ORDER BY product_id FOR UPDATE
    ), complete AS (
      SELECT count(*) = ${ids.length} AS ok FROM locked
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
      UPDATE stock s SET available = s.available - l.quantity, reserved = s.reserved + l.quantity, updated_at = now()
      FROM unnest(${ids}::uuid[], ${quantities}::int[]) AS l(product_id, quantity)
      WHERE s.product_id = l.product_id AND (SELECT ok FROM complete)
      RETURNING s.product_id, s.available, s.reserved, s.sold, s.version
    ), events AS (${outboxInsertSql(
      { topic: "order", envelopes: Prisma.sql`${envelopesSql([orderEvent])} WHERE (SELECT ok FROM complete)` },
      {
        topic: "inventory",
        // occurredAt is when the row changed (after the lock wait), not when the envelope was made
        envelopes: Prisma.sql`
          SELECT jsonb_set(jsonb_set(t.e, '{data}', (t.e->'data') || jsonb_build_object('available', m.available, 'reserved', m.reserved, 'sold', m.sold, 'version', m.version)),
                           '{occurredAt}', to_jsonb(clock_timestamp()))
          FROM moved m JOIN jsonb_array_elements(${JSON.stringify(stockEvents)}::jsonb) AS t(e) ON (t.e->>'aggregateId')::uuid = m.product_id`,
      },
    )})
    SELECT (SELECT count(*)::int FROM moved) AS moved`;
  return result?.moved === ids.length ? record : null;
}
