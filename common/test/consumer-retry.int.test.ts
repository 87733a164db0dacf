import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { z } from "zod";
import { connectTestInfra, logger, type Infra } from "../../test/harness.ts";
import { eventually } from "../../test/eventually.ts";
import { InfrastructureError } from "../errors.ts";
import { toMessage } from "../kafka/publish.ts";
import { runConsumer } from "../kafka/consumer.ts";
import { PermanentEventError } from "../kafka/retry.ts";
import { listDeadLetters } from "../kafka/dead-letters.ts";
import { paymentRequested } from "../../test/kafka-fixtures.ts";

// What is dead-lettered, and when: a message that is not an event and an event that can never be applied go to
// the DLQ at once, an unclassified failure after its attempts, a transient one never; the partition moves on.
let infra: Infra;
beforeAll(async () => {
  infra = await connectTestInfra();
});
afterAll(() => infra.close());

const payment = (userId: string) => paymentRequested(userId);

test("malformed and permanently failing events are dead-lettered at once with their origin; the partition moves on", async () => {
  const events = {
    permanent: payment("permanent"),
    invalid: payment("invalid"),
    broken: payment("broken"),
    flaky: payment("flaky"),
    bug: payment("bug"),
    after: payment("after"),
  };
  const attempts = new Map<string, number>();
  const consumer = await runConsumer({
    ctx: infra.kafka,
    producer: infra.producer,
    groupId: `test-retry-${randomUUID()}`,
    topics: ["payment"],
    logger,
    retry: { initialMs: 20, maxMs: 50, unknownAttempts: 3 },
    handle: async (event) => {
      const user = (event.data as { userId: string }).userId;
      const n = (attempts.get(user) ?? 0) + 1;
      attempts.set(user, n);
      if (user === "permanent") throw new PermanentEventError("payment p1 does not exist");
      if (user === "invalid") z.object({ amountCents: z.number().min(100) }).parse(event.data); // schema-invalid data
      if (user === "broken") throw new InfrastructureError("will not heal", false);
      if (user === "flaky" && n < 3) throw new InfrastructureError("connection reset", true);
      if (user === "bug") throw new TypeError("Cannot read properties of undefined (reading 'id')");
    },
  });
  try {
    // One partition, in this order, so "after" proves the consumer moved past every failure.
    const key = randomUUID();
    const keyed = Object.fromEntries(Object.entries(events).map(([name, e]) => [name, { ...e, aggregateId: key }])) as typeof events;
    await infra.producer.send({
      topic: infra.kafka.topic("payment"),
      acks: -1,
      messages: [
        { key, value: "{not json", headers: { "event-id": "garbage" } },
        { key, value: JSON.stringify({ hello: "world" }) },
        ...Object.values(keyed).map(toMessage),
      ],
    });
    await eventually(async () => (attempts.has("after") ? true : undefined), 20_000, "the event after the failures");
    expect(Object.fromEntries(attempts)).toEqual({ permanent: 1, invalid: 1, broken: 1, flaky: 3, bug: 3, after: 1 });

    const listing = await eventually(async () => {
      const l = await listDeadLetters(infra.kafka, "payment");
      return l.count >= 6 ? l : undefined;
    });
    expect(listing.count).toBe(6);
    const byWhat = listing.letters.map((l) => [l.eventId, l.kind, l.attempts]);
    expect(byWhat).toEqual([
      ["garbage", "malformed", 0],
      [null, "malformed", 0],
      [events.permanent.id, "permanent", 1],
      [events.invalid.id, "permanent", 1],
      [events.broken.id, "permanent", 1],
      [events.bug.id, "unknown", 3],
    ]);
    const source = listing.letters.map((l) => l.source);
    expect(new Set(source.map((s) => `${s.topic}/${s.partition}`)).size).toBe(1);
    expect(source[0]!.topic).toBe(infra.kafka.topic("payment"));
    expect(source.map((s) => Number(s.offset))).toEqual([0, 1, 2, 3, 4, 6].map((i) => Number(source[0]!.offset) + i));
    expect(listing.letters[2]!.error).toBe("PermanentEventError: payment p1 does not exist");
    expect(listing.letters[3]!.error).toMatch(/^ZodError: /);
    expect(listing.letters[5]!.error).toBe("TypeError: Cannot read properties of undefined (reading 'id')");
    expect(listing.letters.every((l) => l.key === key && l.group.startsWith("test-retry-"))).toBe(true);
    expect(listing.letters[2]!.eventType).toBe("PaymentRequested");
  } finally {
    await consumer.close();
  }
});
