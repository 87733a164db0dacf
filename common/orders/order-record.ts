// The order record is what both the order subgraph and the flash-sale subgraph answer for an `Order`: the
// order subgraph reads it from PostgreSQL, a flash purchase builds it from its FlashOrderPlaced event.

import type { Prisma } from "../prisma.ts";
import type { FlashOrderPlaced } from "../events.ts";

/** An order row with its lines, sorted by product id. */
export const withItems = { items: { orderBy: { productId: "asc" } } } as const satisfies Prisma.OrderInclude;
export type OrderRecord = Prisma.OrderGetPayload<{ include: typeof withItems }>;

/** A flash purchase as the record of a RESERVED order (one line, at the sale price). */
export function toOrderRecord(p: FlashOrderPlaced): OrderRecord {
  const createdAt = new Date(p.createdAt);
  return {
    id: p.orderId,
    userId: p.userId,
    idempotencyKey: p.idempotencyKey,
    requestHash: p.requestHash,
    status: "RESERVED",
    totalCents: p.quantity * p.unitPriceCents,
    currency: p.currency,
    reservedUntil: new Date(p.reservedUntil),
    cancelReason: null,
    flashSaleId: p.saleId,
    createdAt,
    updatedAt: createdAt,
    items: [{ orderId: p.orderId, productId: p.productId, quantity: p.quantity, unitPriceCents: p.unitPriceCents }],
  };
}
