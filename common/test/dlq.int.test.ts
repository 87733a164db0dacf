import { randomUUID } from "node:crypto";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connectTestInfra, logger, watchTopic, type Infra } from "../../test/harness.ts";
import { eventually } from "../../test/eventually.ts";
import { publish } from "../kafka/publish.ts";
import { runConsumer } from "../kafka/consumer.ts";
import { PermanentEventError } from "../kafka/retry.ts";
import { listDeadLetters, replayDeadLetters } from "../kafka/dead-letters.ts";
import { createEvent, type PaymentEvent } from "../events.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

// `npm run dlq`: list shows what a real consumer dead-lettered; replay sends each letter back once.
let infra: Infra;
beforeAll(async () => {
  infra = await connectTestInfra();
});
afterAll(() => infra.close());

const refund = () =>
  createEvent<PaymentEvent>("PaymentRefundRequested", randomUUID(), {
    paymentId: randomUUID(),
    orderId: randomUUID(),
    amountCents: 500,
    currency: "EUR",
    reason: "order_expired",
  });

const dlqCli = (...args: string[]) => {
  const run = spawnSync(`${ROOT}node_modules/.bin/tsx`, [`${ROOT}scripts/dlq.ts`, ...args], { cwd: ROOT, env: process.env, encoding: "utf8" });
  if (run.status !== 0) throw new Error(`npm run dlq -- ${args.join(" ")} exited ${run.status}: ${run.stderr}`);
  return run.stdout;
};

test("list shows dead letters with their origin and error; replay sends them back once, however often it runs", async () => {
  const poisoned = [refund(), refund()];
  const handled: string[] = [];
  const consumer = await runConsumer({
    ctx: infra.kafka,
    producer: infra.producer,
    groupId: `test-dlq-${randomUUID()}`,
    topics: ["payment"],
    logger,
    handle: async (event) => {
      handled.push(event.id);
      throw new PermanentEventError(`no order ${(event.data as { orderId: string }).orderId}`);
    },
  });
  try {
    await publish(infra.kafka, infra.producer, "payment", poisoned);
    await infra.producer.send({ topic: infra.kafka.topic("payment"), messages: [{ key: "k", value: "not an event" }] });
    await eventually(async () => ((await listDeadLetters(infra.kafka, "payment")).count === 3 ? true : undefined), 20_000, "three dead letters");
  } finally {
    await consumer.close();
  }

  const listing = await listDeadLetters(infra.kafka, "payment");
  expect(listing.topic).toBe(infra.kafka.topic("payment.dlq"));
  const letters = new Map(listing.letters.map((l) => [l.eventId, l]));
  for (const event of poisoned) {
    const letter = letters.get(event.id)!;
    expect(letter).toMatchObject({ key: event.aggregateId, eventType: "PaymentRefundRequested", kind: "permanent", replayed: false });
    expect(letter.error).toBe(`PermanentEventError: no order ${event.data.orderId}`);
    expect(letter.source.topic).toBe(infra.kafka.topic("payment"));
    expect(Number(letter.source.offset)).toBeGreaterThanOrEqual(0);
  }

  const topic = await watchTopic(infra.kafka, "payment");
  try {
    const first = await replayDeadLetters(infra.kafka, infra.producer, "payment");
    expect(first.replayed.map((l) => l.eventId).sort()).toEqual(poisoned.map((e) => e.id).sort());
    expect(first.skipped.map((l) => l.kind)).toEqual(["malformed"]);
    for (const event of poisoned) await topic.waitFor((e) => e.id === event.id);
    expect(dlqCli("replay", "payment")).toMatch(/payment\.dlq: replayed 0 to /);
    const marker = refund();
    await publish(infra.kafka, infra.producer, "payment", [marker]);
    await topic.waitFor((e) => e.id === marker.id); // anything the second replay sent would have arrived first
    const copies = topic.events.filter((e) => poisoned.some((p) => p.id === e.id));
    expect(copies.length).toBe(2);
    expect(copies[0]).toEqual(JSON.parse(JSON.stringify(poisoned.find((p) => p.id === copies[0].id)))); // the payload as it was
  } finally {
    await topic.close();
  }

  const printed = dlqCli("list", "payment");
  expect(printed).toMatch(/payment\.dlq: 3 dead letters, 3 replayed/);
  for (const event of poisoned) expect(printed).toContain(`PaymentRefundRequested ${event.id}  permanent: PermanentEventError: no order`);
});
