import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connectTestInfra, logger, watchTopic, type Infra } from "../../test/harness.ts";
import { InfrastructureError } from "../errors.ts";
import { publish } from "../kafka/publish.ts";
import { runConsumer } from "../kafka/consumer.ts";
import { PermanentEventError } from "../kafka/retry.ts";
import { createEvent, type PaymentEvent } from "../events.ts";

// runConsumer retries what `isRetriable` allows and dead-letters the rest at once: an error's own `retriable`
// flag decides, not the number of attempts left.
let infra: Infra;
beforeAll(async () => {
  infra = await connectTestInfra();
});
afterAll(() => infra.close());

const payment = (userId: string) =>
  createEvent<PaymentEvent>("PaymentRequested", randomUUID(), {
    paymentId: randomUUID(),
    orderId: randomUUID(),
    userId,
    amountCents: 1,
    currency: "EUR",
    paymentToken: "tok",
  });

test("a non-retriable error is dead-lettered after one attempt; a retriable one is tried again", async () => {
  const failures: Record<string, Error> = {
    permanent: new PermanentEventError("no such payment"),
    broken: new InfrastructureError("will not heal", false),
    flaky: new InfrastructureError("connection reset", true),
  };
  const events = { permanent: payment("permanent"), broken: payment("broken"), flaky: payment("flaky"), after: payment("after") };
  const attempts = new Map<string, number>();
  const dlq = await watchTopic(infra.kafka, "payment.dlq");
  const consumer = await runConsumer({
    ctx: infra.kafka,
    producer: infra.producer,
    groupId: `test-retry-${randomUUID()}`,
    topics: ["payment"],
    logger,
    sleep: async () => undefined,
    concurrency: 1,
    handle: async (event) => {
      const user = (event.data as { userId: string }).userId;
      const n = (attempts.get(user) ?? 0) + 1;
      attempts.set(user, n);
      const failure = failures[user];
      if (failure && !(user === "flaky" && n > 1)) throw failure;
    },
  });
  try {
    // One aggregate key, so the four arrive in order on one partition and "after" proves the consumer moved on.
    const key = randomUUID();
    await publish(
      infra.kafka,
      infra.producer,
      "payment",
      Object.values(events).map((e) => ({ ...e, aggregateId: key })),
    );
    await dlq.waitFor((e) => e.id === events.broken.id);
    await dlq.waitFor((e) => e.id === events.permanent.id);
    const deadline = Date.now() + 15_000;
    while (!attempts.has("after") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(Object.fromEntries(attempts)).toEqual({ permanent: 1, broken: 1, flaky: 2, after: 1 });
    expect(dlq.events.map((e) => e.id).sort()).toEqual([events.permanent.id, events.broken.id].sort());
  } finally {
    await consumer.close();
    await dlq.close();
  }
});
