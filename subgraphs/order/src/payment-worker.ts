import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { PermanentEventError } from "../../../common/kafka/retry.ts";
import { InfrastructureError } from "../../../common/errors.ts";
import { withTimeout } from "../../../common/service.ts";
import { runConsumer } from "../../../common/kafka/consumer.ts";
import { groupName } from "./groups.ts";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { parseEventData, paymentRequested } from "./event-data.ts";
import { paymentRefundRequested, recordRefund, settlePayment, type PaymentProvider } from "./payments.ts";
import { markProcessed, wasProcessed } from "../../../common/processed.ts";

export const PAYMENT_WORKER = "payment-worker";

export interface PaymentWorkerDeps {
  ctx: KafkaContext;
  producer: Producer;
  prisma: PrismaClient;
  logger: Logger;
  provider: PaymentProvider;
  /** The clock `refundedAt` is read from (default `Date.now`). */
  now?: () => number;
  /**
   * Longest a provider call may take, in ms (PAYMENT_PROVIDER_TIMEOUT_MS, default 10 000). Past it the call counts
   * as a transient failure and the event is handled again: the payment id is the provider's idempotency key.
   */
  providerTimeoutMs?: number;
}

/**
 * The provider's side of the saga. PaymentRequested: charges through the provider and reports the outcome as
 * PaymentSucceeded or PaymentFailed (outbox, same transaction as the payment row and the processed event id).
 * PaymentRefundRequested: refunds through the provider and records REFUNDED plus PaymentRefunded. A provider
 * error is retried with backoff by the consumer; the provider sees the payment id as its idempotency key, so
 * a retry never charges or refunds twice.
 */
export function startPaymentWorker({ ctx, producer, prisma, logger, provider, now = Date.now, providerTimeoutMs = 10_000 }: PaymentWorkerDeps) {
  /** A provider call bounded by `providerTimeoutMs`; a timeout is retried like an unreachable database. */
  const bounded = <T>(call: Promise<T>, what: string) =>
    withTimeout(call, providerTimeoutMs, `payment provider ${what}`).catch((error: unknown) => {
      throw error instanceof Error && error.message.endsWith(`timed out after ${providerTimeoutMs} ms`)
        ? new InfrastructureError(error.message, true, { cause: error })
        : error;
    });

  async function charge(event: { id: string; type: string; data: unknown }) {
    const data = parseEventData(paymentRequested, event);
    if (await wasProcessed(prisma, PAYMENT_WORKER, event.id)) return;
    const payment = await prisma.payment.findUnique({ where: { id: data.paymentId }, select: { status: true } });
    if (!payment) throw new PermanentEventError(`payment ${data.paymentId} does not exist`);
    if (payment.status !== "PENDING") return; // the webhook settled it first
    const outcome = await bounded(provider.charge(data), "charge");
    if (outcome.status === "pending") {
      await markProcessed(prisma, PAYMENT_WORKER, event.id);
      return;
    }
    await settlePayment(prisma, data.paymentId, outcome, { consumer: PAYMENT_WORKER, eventId: event.id });
  }

  async function refund(event: { id: string; type: string; data: unknown }) {
    const data = parseEventData(paymentRefundRequested, event);
    if (await wasProcessed(prisma, PAYMENT_WORKER, event.id)) return;
    const payment = await prisma.payment.findUnique({ where: { id: data.paymentId }, select: { status: true } });
    if (!payment) throw new PermanentEventError(`payment ${data.paymentId} does not exist`);
    if (payment.status !== "REFUND_REQUESTED") return; // refunded already (a redelivery after the commit)
    const { refundRef } = await bounded(provider.refund(data), "refund");
    await recordRefund(prisma, data.paymentId, refundRef, new Date(now()), { consumer: PAYMENT_WORKER, eventId: event.id });
  }

  return runConsumer({
    ctx,
    producer,
    groupId: groupName(ctx, PAYMENT_WORKER),
    topics: ["payment"],
    logger,
    handle: async (event) => {
      if (event.type === "PaymentRequested") await charge(event);
      else if (event.type === "PaymentRefundRequested") await refund(event);
    },
  });
}
