import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { PermanentEventError } from "../../../common/kafka/retry.ts";
import { runConsumer } from "../../../common/kafka/consumer.ts";
import { groupName } from "./groups.ts";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { parseEventData, paymentRequested } from "./event-data.ts";
import { settlePayment, type PaymentProvider } from "./payments.ts";
import { markProcessed, wasProcessed } from "../../../common/processed.ts";

export const PAYMENT_WORKER = "payment-worker";

export interface PaymentWorkerDeps {
  ctx: KafkaContext;
  producer: Producer;
  prisma: PrismaClient;
  logger: Logger;
  provider: PaymentProvider;
}

/**
 * Charges each PaymentRequested through the provider and reports the outcome as PaymentSucceeded or
 * PaymentFailed (outbox, same transaction as the payment row and the processed event id). A provider error
 * is retried with backoff by the consumer; the provider sees the payment id as its idempotency key, so a
 * retry never charges twice.
 */
export function startPaymentWorker({ ctx, producer, prisma, logger, provider }: PaymentWorkerDeps) {
  return runConsumer({
    ctx,
    producer,
    groupId: groupName(ctx, PAYMENT_WORKER),
    topics: ["payment"],
    logger,
    handle: async (event) => {
      if (event.type !== "PaymentRequested") return;
      const data = parseEventData(paymentRequested, event);
      if (await wasProcessed(prisma, PAYMENT_WORKER, event.id)) return;
      const payment = await prisma.payment.findUnique({ where: { id: data.paymentId }, select: { status: true } });
      if (!payment) throw new PermanentEventError(`payment ${data.paymentId} does not exist`);
      if (payment.status !== "PENDING") return; // the webhook settled it first
      const outcome = await provider.charge(data);
      if (outcome.status === "pending") {
        await markProcessed(prisma, PAYMENT_WORKER, event.id);
        return;
      }
      await settlePayment(prisma, data.paymentId, outcome, { consumer: PAYMENT_WORKER, eventId: event.id });
    },
  });
}
