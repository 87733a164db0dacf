import { z } from "zod";
import { createEvent, type PaymentEvent } from "../../../common/events.ts";
import type { PrismaClient, Tx } from "../../../common/prisma.ts";
import { enqueue } from "../../../common/outbox.ts";
import { markProcessed } from "../../../common/processed.ts";

/** What a payment provider says about a charge. `pending`: the answer comes later, through the webhook. */
export type ChargeOutcome =
  | { status: "succeeded"; providerRef: string }
  | { status: "failed"; reason: string; providerRef?: string }
  | { status: "pending"; providerRef: string };

/** The seam to a real provider (Stripe, Adyen, ...). `paymentId` is the provider-side idempotency key of both calls. */
export interface PaymentProvider {
  charge(request: { paymentId: string; orderId: string; amountCents: number; currency: string; paymentToken: string }): Promise<ChargeOutcome>;
  /**
   * Pays a captured payment back in full. Idempotent per `paymentId`: asked again (a redelivered event, a retry
   * after a lost answer) it answers the same refund and moves no more money.
   */
  refund(request: { paymentId: string; orderId: string; amountCents: number; currency: string }): Promise<{ refundRef: string }>;
}

/** PaymentRefundRequested as the payment worker reads it (a payload that does not parse is dead-lettered). */
export const paymentRefundRequested = z.object({
  paymentId: z.string().uuid(),
  orderId: z.string().uuid(),
  amountCents: z.number().int().min(0),
  currency: z.string().length(3),
  reason: z.string().min(1),
});

/**
 * Records a final outcome for a PENDING payment and emits PaymentSucceeded or PaymentFailed, in one
 * transaction. The payment worker and the webhook both land here; whichever comes second finds the payment
 * settled and emits nothing. With `processed`, the consumer's event id is recorded in the same transaction.
 * Returns whether this call settled the payment.
 */
export async function settlePayment(
  prisma: PrismaClient,
  paymentId: string,
  outcome: Exclude<ChargeOutcome, { status: "pending" }>,
  processed?: { consumer: string; eventId: string },
): Promise<boolean> {
  return prisma.$transaction(async (tx) => {
    if (processed && !(await markProcessed(tx, processed.consumer, processed.eventId))) return false;
    const updated = await tx.payment.updateMany({
      where: { id: paymentId, status: "PENDING" },
      data:
        outcome.status === "succeeded"
          ? { status: "SUCCEEDED", providerRef: outcome.providerRef }
          : { status: "FAILED", failureReason: outcome.reason, providerRef: outcome.providerRef ?? null },
    });
    if (updated.count === 0) return false;
    const { orderId } = await tx.payment.findUniqueOrThrow({ where: { id: paymentId }, select: { orderId: true } });
    const event =
      outcome.status === "succeeded"
        ? createEvent<PaymentEvent>("PaymentSucceeded", orderId, { paymentId, orderId, providerRef: outcome.providerRef })
        : createEvent<PaymentEvent>("PaymentFailed", orderId, { paymentId, orderId, reason: outcome.reason });
    await enqueue(tx, "payment", event);
    return true;
  });
}

/**
 * Money arrived for an order that can no longer be confirmed (expired or cancelled first): the payment is
 * marked REFUND_REQUESTED and PaymentRefundRequested asks the provider integration to pay it back.
 */
export async function requestRefund(tx: Tx, paymentId: string, reason: string): Promise<boolean> {
  const updated = await tx.payment.updateMany({
    where: { id: paymentId, status: "SUCCEEDED" },
    data: { status: "REFUND_REQUESTED", failureReason: reason },
  });
  if (updated.count === 0) return false;
  const payment = await tx.payment.findUniqueOrThrow({ where: { id: paymentId } });
  await enqueue(
    tx,
    "payment",
    createEvent<PaymentEvent>("PaymentRefundRequested", payment.orderId, {
      paymentId,
      orderId: payment.orderId,
      amountCents: payment.amountCents,
      currency: payment.currency.trim(),
      reason,
    }),
  );
  return true;
}

/**
 * The provider refunded a REFUND_REQUESTED payment: REFUNDED with `refundedAt` and the provider's reference,
 * PaymentRefunded, and the consumer's event id, in one transaction. Only the first call changes anything, so a
 * redelivered request (the provider's refund being idempotent too) is recorded once. Returns whether it did.
 */
export async function recordRefund(
  prisma: PrismaClient,
  paymentId: string,
  refundRef: string,
  at: Date,
  processed: { consumer: string; eventId: string },
): Promise<boolean> {
  return prisma.$transaction(async (tx) => {
    if (!(await markProcessed(tx, processed.consumer, processed.eventId))) return false;
    const updated = await tx.payment.updateMany({
      where: { id: paymentId, status: "REFUND_REQUESTED" },
      data: { status: "REFUNDED", refundedAt: at, refundRef },
    });
    if (updated.count === 0) return false;
    const payment = await tx.payment.findUniqueOrThrow({ where: { id: paymentId } });
    const data = { paymentId, orderId: payment.orderId, amountCents: payment.amountCents, currency: payment.currency.trim(), refundRef };
    await enqueue(tx, "payment", createEvent<PaymentEvent>("PaymentRefunded", payment.orderId, data));
    return true;
  });
}

/** `Order.payment`: the order's payment as the API shows it, or null before payOrder. */
export function createPaymentReader(prisma: PrismaClient) {
  return {
    async ofOrder(orderId: string) {
      const payment = await prisma.payment.findUnique({
        where: { orderId },
        select: { id: true, status: true, amountCents: true, currency: true, refundedAt: true },
      });
      return payment && { ...payment, currency: payment.currency.trim() };
    },
  };
}
