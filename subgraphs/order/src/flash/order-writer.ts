// Runs in the order process: flash orders are rows of the order subgraph's tables, written off the purchase path.

import { Prisma, type PrismaClient, type Tx } from "../../../../common/prisma.ts";
import type { FlashOrderPlaced } from "../../../../common/events.ts";
import { toOrderRecord } from "../../../../common/orders/order-record.ts";
import { orderStatusChanged } from "../transitions.ts";
import { outboxInsertSql } from "../../../../common/outbox.ts";

/**
 * Writes flash orders as RESERVED orders with the ids the buyers were given, in ONE statement per batch: the
 * orders, their lines and an OrderStatusChanged(RESERVED) outbox event for each order it inserted, exactly
 * what placeOrder writes for a regular order. Stock rows are not touched: the units left regular stock when
 * the sale was created. Idempotent: an order already there (a redelivery, or written on demand by payOrder)
 * is skipped together with its line and event. Returns how many orders it inserted.
 * With `cancelReason` the orders are written CANCELLED (their OrderStatusChanged says so, from no status): the
 * fence refused them a place in a sale reloaded after a Redis loss (common/orders/flash-fence.ts).
 */
export async function writeFlashOrders(
  prisma: PrismaClient | Tx,
  placed: readonly FlashOrderPlaced[],
  opts: { cancelReason?: string } = {},
): Promise<number> {
  if (placed.length === 0) return 0;
  const status = opts.cancelReason ? ("CANCELLED" as const) : ("RESERVED" as const);
  const cancelReason = opts.cancelReason ?? null;
  const rows = placed.map((p) => ({
    id: p.orderId,
    user_id: p.userId,
    idempotency_key: p.idempotencyKey,
    request_hash: p.requestHash,
    total_cents: p.quantity * p.unitPriceCents,
    currency: p.currency,
    reserved_until: p.reservedUntil,
    created_at: p.createdAt,
    flash_sale_id: p.saleId,
    product_id: p.productId,
    quantity: p.quantity,
    unit_price_cents: p.unitPriceCents,
    status,
    cancel_reason: cancelReason,
    event: orderStatusChanged({ ...toOrderRecord(p), status, cancelReason }, null),
  }));
  const [result] = await prisma.$queryRaw<{ inserted: number }[]>`
    WITH input AS (
      SELECT DISTINCT ON (id) * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(
        id uuid, user_id text, idempotency_key text, request_hash text, total_cents int, currency text,
        reserved_until timestamptz, created_at timestamptz, flash_sale_id uuid, product_id uuid, quantity int,
        unit_price_cents int, status text, cancel_reason text, event jsonb)
    ), inserted AS (
      INSERT INTO orders (id, user_id, idempotency_key, request_hash, status, cancel_reason, total_cents, currency, reserved_until, flash_sale_id, created_at, updated_at)
      SELECT id, user_id, idempotency_key, request_hash, status::"OrderStatus", cancel_reason, total_cents, currency, reserved_until, flash_sale_id, created_at, created_at
      FROM input
      ON CONFLICT DO NOTHING
      RETURNING id
    ), lines AS (
      INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents)
      SELECT i.id, i.product_id, i.quantity, i.unit_price_cents FROM input i JOIN inserted USING (id)
    ), events AS (
      ${outboxInsertSql({ topic: "order", envelopes: Prisma.sql`SELECT i.event FROM input i JOIN inserted USING (id)` })}
    )
    SELECT count(*)::int AS inserted FROM inserted`;
  return result?.inserted ?? 0;
}
