// Runs in the order process: a flash purchase answers at once, and order(id), payOrder and cancelOrder must
// work on its order before the writer has stored it.

import type { PrismaClient } from "../../../../common/prisma.ts";
import type { FlashOrderPlaced } from "../../../../common/events.ts";
import { toOrderRecord, type OrderRecord } from "../../../../common/orders/order-record.ts";
import type { FlashReservations } from "./reservations.ts";
import type { FlashFence } from "../../../../common/orders/flash-fence.ts";
import { InfrastructureError } from "../../../../common/errors.ts";
import { writeFenced } from "./fenced-write.ts";

/**
 * Flash orders between the purchase and the writer: the buyer has the order id at once, PostgreSQL gets the
 * row a moment later. The order subgraph asks here when PostgreSQL does not have an id yet, so order(id)
 * finds a flash order immediately, and payOrder/cancelOrder write it first (the writer's idempotent insert),
 * through the writer's fence: a purchase taken back meanwhile is no order, and one written here can no longer
 * be taken back.
 */
export function createPendingFlashOrders(prisma: PrismaClient, flash: FlashReservations, fence: FlashFence) {
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

    /**
     * Writes the pending order now (as the writer would, through the fence and under its item's rebuild lock) and
     * answers the stored row (CANCELLED if the fence refused it a place in a sale reloaded after a Redis loss);
     * null when there is none.
     */
    async persist(orderId: string): Promise<OrderRecord | null> {
      const placed = await placedOf(orderId);
      if (!placed) return null;
      const outcome = await writeFenced(prisma, fence, [placed]);
      // Redis lost the item since the reservation was read: the writer reloads it and decides; ask again then.
      if (outcome.unloaded.length > 0) throw new InfrastructureError("the flash sale is being reloaded; try again", true);
      if (outcome.write.length === 0 && outcome.cancel.length === 0) return null;
      return prisma.order.findUnique({ where: { id: orderId }, include: { items: { orderBy: { productId: "asc" } } } });
    },
  };
}

export type PendingFlashOrders = ReturnType<typeof createPendingFlashOrders>;
