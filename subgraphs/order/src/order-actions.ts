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
  /** PAYMENT_HOLD_SECONDS in ms: how long past reservedUntil a payment in flight keeps the order from expiring. */
  paymentHoldMs: number;
  /** Writes a flash order PostgreSQL does not have yet and answers it (null: no such order). */
  persistPending?: (orderId: string) => Promise<OrderRecord | null>;
}

type User = NonNullable<Identity["user"]>;

const invalidState = (status: string, message: string) => appError(ErrorCode.INVALID_STATE, message, { status });

/** What a buyer does to an order after placing it: pay (starts the saga) and cancel. Owner only. */
export function createOrderActions({ prisma, transitions, now, paymentHoldMs, persistPending }: OrderActionsDeps) {
  async function ownedOrder(user: User, orderId: string): Promise<OrderRecord> {
    const order = (await prisma.order.findUnique({ where: { id: orderId }, include: withItems })) ?? (await persistPending?.(orderId)) ?? null;
    if (!order) throw notFound("Order");
    if (order.userId !== user.id) throw forbidden("This order belongs to someone else.");
    return order;
  }

  /**
   * An order still RESERVED after its reservedUntil is expired now rather than at the next sweep, so the
   * buyer is told EXPIRED (and its stock is back) instead of being allowed to pay or cancel a lapsed hold.
   * An order its payment in flight still holds is not expired (transitions.ts): it is answered as it is
   * (paying again is a no-op) or, for a cancel, refused.
   */
  async function expireLapsed(order: OrderRecord): Promise<OrderRecord> {
    const expired = await transitions.run(order.id, Transition.expire(new Date(now())));
    const current = expired.order ?? order;
    if (current.status === "RESERVED") return current;
    throw invalidState(
      current.status,
      `The order is ${current.status.toLowerCase()}; its reservation ended at ${order.reservedUntil.toISOString()}.`,
    );
  }

  const paymentInProgress = () =>
    appError(ErrorCode.INVALID_STATE, "The order's payment is in progress; it can no longer be cancelled.", {
      status: "RESERVED",
      reason: "payment_in_progress",
    });

  return {
    /**
     * Creates the order's payment and a PaymentRequested event in one transaction; the outcome arrives
     * asynchronously. Paying again while a payment is under way, or once it went through, returns the order
     * without a second charge.
     */
    async pay(user: User, orderId: string, paymentToken: string): Promise<OrderRecord> {
      const order = await ownedOrder(user, orderId);
      // A retry of a payment that already went through (the answer was lost, or the saga was quicker than the
      // client): the order as it is, not an error that would read as "not paid".
      if (order.status === "PAID" || order.status === "CONFIRMED") return order;
      if (order.status !== "RESERVED") throw invalidState(order.status, `Only a RESERVED order can be paid; this one is ${order.status}.`);
      if (order.reservedUntil.getTime() <= now()) return expireLapsed(order);
      return prisma.$transaction(async (tx) => {
        const [row] = await tx.$queryRaw<{ status: string }[]>`SELECT status::text AS status FROM orders WHERE id = ${orderId}::uuid FOR UPDATE`;
        if (row?.status !== "RESERVED")
          throw invalidState(row?.status ?? order.status, `Only a RESERVED order can be paid; this one is ${row?.status}.`);
        if (await tx.payment.findUnique({ where: { orderId }, select: { id: true } })) return order;
        const holdsUntil = new Date(order.reservedUntil.getTime() + paymentHoldMs);
        const payment = await tx.payment.create({
          data: { id: randomUUID(), orderId, amountCents: order.totalCents, currency: order.currency, holdsUntil },
        });
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

    /**
     * RESERVED -> CANCELLED ("cancelled_by_buyer"); the stock goes back. Any other status is INVALID_STATE, and
     * so is an order whose payment is in flight (`reason: payment_in_progress`): money may be on its way, and
     * cancelling would only turn it into a refund; the payment's outcome (or its hold ending) settles the order.
     */
    async cancel(user: User, orderId: string): Promise<OrderRecord> {
      const order = await ownedOrder(user, orderId);
      if (order.status !== "RESERVED") {
        // Often a retry of a cancel whose answer was lost, maybe with its Redis step (the process killed after the
        // commit): the reservation is settled again (idempotent) before the refusal, so no units stay held.
        await transitions.settleReservation(order.id, order.status);
        throw invalidState(order.status, `Only a RESERVED order can be cancelled; this one is ${order.status}.`);
      }
      const result = await transitions.run(orderId, Transition.cancelByBuyer(new Date(now())));
      if (result.changed) return result.order;
      const current = result.order ?? order;
      if (current.status !== "RESERVED") throw invalidState(current.status, `Only a RESERVED order can be cancelled; this one is ${current.status}.`);
      // Lapsed: expired now (INVALID_STATE, EXPIRED) unless its payment in flight still holds it.
      if (current.reservedUntil.getTime() <= now()) await expireLapsed(current);
      throw paymentInProgress();
    },
  };
}

export type OrderActions = ReturnType<typeof createOrderActions>;
