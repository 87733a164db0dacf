// Runs in the order process: a flash purchase answers at once, and order(id), payOrder and cancelOrder must
// work on its order before the writer has stored it.

import type { PrismaClient } from "../../../../common/prisma.ts";
import type { FlashOrderPlaced } from "../../../../common/events.ts";
import { toOrderRecord, type OrderRecord } from "../../../../common/orders/order-record.ts";
import type { FlashReservations } from "./reservations.ts";
import { writeFlashOrders } from "./order-writer.ts";

/**
 * Flash orders between the purchase and the writer: the buyer has the order id at once, PostgreSQL gets the
 * row a moment later. The order subgraph asks here when PostgreSQL does not have an id yet, so order(id)
 * finds a flash order immediately, and payOrder/cancelOrder write it first (the writer's idempotent insert).
 */
export function createPendingFlashOrders(prisma: PrismaClient, flash: FlashReservations) {
  async function placedOf(orderId: string): Promise<FlashOrderPlaced | null> {
    const r = await flash.find(orderId);
    // Only a live reservation is a pending order; a released one was never written, so it is no order at all.
    if (!r || r.state !== "reserved") return null;
    return {
      orderId,
      userId: r.userId,
      idempotencyKey: r.idempotencyKey,
      requestHash: r.pointer.requestHash,
      saleId: r.pointer.saleId,
      productId: r.pointer.productId,
      quantity: r.quantity,
      unitPriceCents: r.priceCents,
      currency: r.currency,
      reservedUntil: new Date(r.expiresAtMs).toISOString(),
      createdAt: new Date(r.createdAtMs).toISOString(),
    };
  }

  return {
    /** The RESERVED order a flash purchase made, as the order subgraph shows it; null when there is none. */
    async find(orderId: string): Promise<OrderRecord | null> {
      const placed = await placedOf(orderId);
      return placed ? toOrderRecord(placed) : null;
    },

    /** Writes the pending order now (as the writer would) and answers the stored row; null when there is none. */
    async persist(orderId: string): Promise<OrderRecord | null> {
      const placed = await placedOf(orderId);
      if (!placed) return null;
      await writeFlashOrders(prisma, [placed]);
      return prisma.order.findUnique({ where: { id: orderId }, include: { items: { orderBy: { productId: "asc" } } } });
    },
  };
}

export type PendingFlashOrders = ReturnType<typeof createPendingFlashOrders>;
