import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connectTestInfra, logger, type Infra } from "../../test/harness.ts";
import { eventually } from "../../test/eventually.ts";
import { InfrastructureError } from "../errors.ts";
import { publish } from "../kafka/publish.ts";
import { runConsumer } from "../kafka/consumer.ts";
import { consumerPausedPartitions } from "../kafka/metrics.ts";
import { createEvent, type PaymentEvent } from "../events.ts";

// SIGTERM while a consumer waits out a backoff: close() returns without waiting for the retry, commits what was
// handled before the failing event and not the event itself, so the next member of the group gets it.
let infra: Infra;
beforeAll(async () => {
  infra = await connectTestInfra();
});
afterAll(() => infra.close());

const payment = (key: string) => createEvent<PaymentEvent>("PaymentFailed", key, { paymentId: randomUUID(), orderId: key, reason: "card_declined" });

test("close() during a backoff returns promptly and the event is redelivered to the next consumer", async () => {
  const groupId = `test-shutdown-${randomUUID()}`;
  const key = randomUUID();
  const before = payment(key);
  const failing = payment(key);
  const firstSaw: string[] = [];
  const secondSaw: string[] = [];
  const first = await runConsumer({
    ctx: infra.kafka,
    producer: infra.producer,
    groupId,
    topics: ["payment"],
    logger,
    retry: { initialMs: 60_000, maxMs: 60_000 }, // a backoff far longer than the test
    handle: async (event) => {
      firstSaw.push(event.id);
      if (event.id === failing.id) throw new InfrastructureError("database unreachable", true);
    },
  });
  await publish(infra.kafka, infra.producer, "payment", [before, failing]);
  await eventually(async () => (firstSaw.includes(failing.id) ? true : undefined), 20_000, "the failing event's first attempt");
  const paused = (await consumerPausedPartitions.get()).values.filter((v) => v.labels.group === groupId);
  expect(paused.reduce((n, v) => n + v.value, 0)).toBe(1);

  const closing = Date.now();
  await first.close();
  expect(Date.now() - closing).toBeLessThan(3_000); // a fetch in flight (≤ 1 s) and leaving the group, not the backoff
  expect(firstSaw).toEqual([before.id, failing.id]);

  const second = await runConsumer({
    ctx: infra.kafka,
    producer: infra.producer,
    groupId,
    topics: ["payment"],
    logger,
    handle: async (event) => void secondSaw.push(event.id),
  });
  try {
    await eventually(async () => (secondSaw.includes(failing.id) ? true : undefined), 20_000, "the redelivered event");
    expect(secondSaw).toEqual([failing.id]); // the event before it was committed by the first consumer's close
    const admin = infra.kafka.kafka.admin();
    await admin.connect();
    const dlq = await admin.fetchTopicOffsets(infra.kafka.topic("payment.dlq")).finally(() => admin.disconnect());
    expect(dlq.map((p) => Number(p.high) - Number(p.low))).toEqual([0]);
  } finally {
    await second.close();
  }
});
