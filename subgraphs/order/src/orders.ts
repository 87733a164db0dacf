import DataLoader from "dataloader";
import type { Prisma, PrismaClient } from "../../../common/prisma.ts";
import type { OrderSnapshot } from "../../../common/events.ts";
import { withItems, type OrderRecord } from "../../../common/orders/order-record.ts";

export interface OrderCursor {
  createdAt: string;
  id: string;
}

export function toSnapshot(order: OrderRecord): OrderSnapshot {
  return {
    id: order.id,
    userId: order.userId,
    status: order.status,
    items: order.items.map((i) => ({ productId: i.productId, quantity: i.quantity, unitPriceCents: i.unitPriceCents })),
    totalCents: order.totalCents,
    currency: order.currency.trim(),
    reservedUntil: order.reservedUntil.toISOString(),
    cancelReason: order.cancelReason,
    flashSaleId: order.flashSaleId,
    createdAt: order.createdAt.toISOString(),
    updatedAt: order.updatedAt.toISOString(),
  };
}

/**
 * `pending` finds an order PostgreSQL does not have yet: a flash purchase answers at once and its row is
 * written a moment later (flash/pending-orders.ts), yet order(id) must find it immediately.
 */
export function createOrderReader(prisma: PrismaClient, pending?: (id: string) => Promise<OrderRecord | null>) {
  const find = async (id: string): Promise<OrderRecord | null> =>
    (await prisma.order.findUnique({ where: { id }, include: withItems })) ?? (pending ? pending(id) : null);

  return {
    find,

    /** One query for every order id asked for in the same tick (order(id), entity references). */
    createLoader: () =>
      new DataLoader<string, OrderRecord | null>(async (ids) => {
        const rows = await prisma.order.findMany({ where: { id: { in: [...ids] } }, include: withItems });
        const byId = new Map(rows.map((r) => [r.id, r]));
        return Promise.all(ids.map(async (id) => byId.get(id) ?? (pending ? pending(id) : null)));
      }),

    /** A user's orders, newest first, after the cursor; one extra row tells whether there is a next page. */
    async pageForUser(userId: string, first: number, after: OrderCursor | null): Promise<{ rows: OrderRecord[]; hasNextPage: boolean }> {
      const where: Prisma.OrderWhereInput = { userId };
      if (after) {
        const at = new Date(after.createdAt);
        where.OR = [{ createdAt: { lt: at } }, { createdAt: at, id: { lt: after.id } }];
      }
      const rows = await prisma.order.findMany({ where, include: withItems, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: first + 1 });
      return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
    },
  };
}

export type OrderReader = ReturnType<typeof createOrderReader>;
