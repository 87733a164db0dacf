import { randomUUID } from "node:crypto";
import { createEvent, type PaymentEvent } from "../common/events.ts";
import type { KafkaContext } from "../common/kafka/client.ts";

// What the tests of the Kafka plumbing (consumers, commits, a cluster's brokers) publish, count and clean up.

/** A PaymentRequested event with fresh ids. */
export const paymentRequested = (userId: string, amountCents = 1) =>
  createEvent<PaymentEvent>("PaymentRequested", randomUUID(), {
    paymentId: randomUUID(),
    orderId: randomUUID(),
    userId,
    amountCents,
    currency: "EUR",
    paymentToken: "tok",
  });

/** Deletes the `payment` topic and its dead-letter topic under `ctx`'s prefix; a topic already gone is no error. */
export async function deletePaymentTopics(ctx: KafkaContext): Promise<void> {
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [ctx.topic("payment"), ctx.topic("payment.dlq")] }).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}
