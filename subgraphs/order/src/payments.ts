import { createEvent, type PaymentEvent } from "../../../common/events.ts";
import type { PrismaClient, Tx } from "../../../common/prisma.ts";
import { enqueue } from "../../../common/outbox.ts";
import { markProcessed } from "../../../common/processed.ts";

/** What a payment provider says about a charge. `pending`: the answer comes later, through the webhook. */
export type ChargeOutcome =
  | { status: "succeeded"; providerRef: string }
  | { status: "failed"; reason: string; providerRef?: string }
  | { status: "pending"; providerRef: string };

/** The seam to a real provider (Stripe, Adyen, ...). `paymentId` is the provider-side idempotency key. */
export interface PaymentProvider {
  charge(request: { paymentId: string; orderId: string; amountCents: number; currency: string; paymentToken: string }): Promise<ChargeOutcome>;
}

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
