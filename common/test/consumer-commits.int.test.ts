import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { config, logger } from "../../test/harness.ts";
import { createKafka, createProducer, ensureTopics, type KafkaContext, type Producer } from "../kafka/client.ts";
import { publish } from "../kafka/publish.ts";
import { runConsumer } from "../kafka/consumer.ts";
import { deletePaymentTopics, paymentRequested } from "../../test/kafka-fixtures.ts";

// Offsets are committed once a second rather than after every batch, so a clean close must commit what was
// handled since: a consumer that takes over the group starts exactly after it, with nothing handled twice.
let ctx: KafkaContext;
let producer: Producer;
beforeAll(async () => {
  ctx = createKafka({
    brokers: config.KAFKA_BROKERS.split(","),
    clientId: "test-commits",
    logger,
    topicPrefix: `test-commits-${randomUUID().slice(0, 8)}.`,
  });
  await ensureTopics(ctx, 3, ["payment"]);
  producer = await createProducer(ctx);
});
afterAll(async () => {
  await producer.disconnect();
  await deletePaymentTopics(ctx);
});

const payment = (i: number) => paymentRequested(`u${i}`, i);

async function until(condition: () => boolean, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("closing a consumer commits what it handled: the next member of the group redelivers nothing", async () => {
  const groupId = `test-commits-${randomUUID()}`;
  const handled: string[] = [];
  const start = () => runConsumer({ ctx, producer, groupId, topics: ["payment"], logger, handle: async (event) => void handled.push(event.id) });

  const first = await start();
  const events = Array.from({ length: 30 }, (_, i) => payment(i));
  await publish(ctx, producer, "payment", events);
  await until(() => handled.length >= events.length, "the first consumer to handle every event");
  await first.close();
  expect(handled.sort()).toEqual(events.map((e) => e.id).sort());

  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [ctx.topic("payment")] });
    const ends = await admin.fetchTopicOffsets(ctx.topic("payment"));
    const sum = (offsets: { offset: string }[]) => offsets.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    expect(sum(committed!.partitions)).toBe(sum(ends));
  } finally {
    await admin.disconnect();
  }

  const later = payment(99);
  const second = await start();
  try {
    await publish(ctx, producer, "payment", [later]);
    await until(() => handled.includes(later.id), "the second consumer to handle the new event");
    expect(handled.length).toBe(events.length + 1); // the new one only, nothing again
  } finally {
    await second.close();
  }
});
