import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../../../common/prisma.ts";
import { appError, ErrorCode, forbidden, notFound } from "../../../common/errors.ts";
import type { Identity } from "../../../common/identity.ts";
import { createEvent, type PaymentEvent } from "../../../common/events.ts";
import { enqueue } from "../../../common/outbox.ts";
import type { OrderRecord } from "../../../common/orders/order-record.ts";
import { Transition, type Transitions } from "./transitions.ts";
import { withItems } from "../../../common/orders/order-record.ts";

export interface OrderActionsDeps {
  prisma: PrismaClient;
  transitions: Transitions;
  now: () => number;
  /** Writes a flash order PostgreSQL does not have yet and answers it (null: no such order). */
  persistPending?: (orderId: string) => Promise<OrderRecord | null>;
}

type User = NonNullable<Identity["user"]>;

const invalidState = (status: string, message: string) => appError(ErrorCode.INVALID_STATE, message, { status });

/** What a buyer does to an order after placing it: pay (starts the saga) and cancel. Owner only. */
export function createOrderActions({ prisma, transitions, now, persistPending }: OrderActionsDeps) {
  async function ownedOrder(user: User, orderId: string): Promise<OrderRecord> {
    const order = (await prisma.order.findUnique({ where: { id: orderId }, include: withItems })) ?? (await persistPending?.(orderId)) ?? null;
    if (!order) throw notFound("Order");
    if (order.userId !== user.id) throw forbidden("This order belongs to someone else.");
    return order;
  }

  /**
   * An order still RESERVED after its reservedUntil is expired now rather than at the next sweep, so the
   * buyer is told EXPIRED (and its stock is back) instead of being allowed to pay or cancel a lapsed hold.
   */
  async function refuseLapsed(order: OrderRecord): Promise<never> {
    const expired = await transitions.run(order.id, Transition.expire(new Date(now())));
    const status = expired.order?.status ?? order.status;
    throw invalidState(status, `The order is ${status.toLowerCase()}; its reservation ended at ${order.reservedUntil.toISOString()}.`);
  }

  return {
    /**
     * Creates the order's payment and a PaymentRequested event in one transaction; the outcome arrives
     * asynchronously. Paying again while a payment is under way returns the order without a second charge.
     */
    async pay(user: User, orderId: string, paymentToken: string): Promise<OrderRecord> {
      const order = await ownedOrder(user, orderId);
      if (order.status !== "RESERVED") throw invalidState(order.status, `Only a RESERVED order can be paid; this one is ${order.status}.`);
      if (order.reservedUntil.getTime() <= now()) return refuseLapsed(order);
      return prisma.$transaction(async (tx) => {
        const [row] = await tx.$queryRaw<{ status: string }[]>`SELECT status::text AS status FROM orders WHERE id = ${orderId}::uuid FOR UPDATE`;
        if (row?.status !== "RESERVED")
          throw invalidState(row?.status ?? order.status, `Only a RESERVED order can be paid; this one is ${row?.status}.`);
        if (await tx.payment.findUnique({ where: { orderId }, select: { id: true } })) return order;
        const payment = await tx.payment.create({ data: { id: randomUUID(), orderId, amountCents: order.totalCents, currency: order.currency } });
        await enqueue(
          tx,
          "payment",
          createEvent<PaymentEvent>("PaymentRequested", orderId, {
            paymentId: payment.id,
            orderId,
            userId: user.id,
            amountCents: payment.amountCents,
            currency: payment.currency.trim(),
            paymentToken,
          }),
        );
        return order;
      });
    },

    /** RESERVED -> CANCELLED ("cancelled_by_buyer"); the stock goes back. Any other status is INVALID_STATE. */
    async cancel(user: User, orderId: string): Promise<OrderRecord> {
      const order = await ownedOrder(user, orderId);
      if (order.status !== "RESERVED") throw invalidState(order.status, `Only a RESERVED order can be cancelled; this one is ${order.status}.`);
      const result = await transitions.run(orderId, Transition.cancelByBuyer(new Date(now())));
      if (result.changed) return result.order;
      const current = result.order ?? order;
      if (current.status === "RESERVED") return refuseLapsed(current);
      throw invalidState(current.status, `Only a RESERVED order can be cancelled; this one is ${current.status}.`);
    },
  };
}

export type OrderActions = ReturnType<typeof createOrderActions>;
