import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { config, connectTestInfra, logger, type Infra } from "../../test/harness.ts";
import { eventually } from "../../test/eventually.ts";
import { startTcpProxy, targetOf } from "../../test/tcp-proxy.ts";
import { createPrisma, type PrismaClient } from "../prisma.ts";
import { markProcessed } from "../processed.ts";
import { runConsumer } from "../kafka/consumer.ts";
import { toMessage } from "../kafka/publish.ts";
import { classifyFailure, type FailureKind } from "../kafka/retry.ts";
import { consumerPausedPartitions, consumerRetries } from "../kafka/metrics.ts";
import { createEvent, type PaymentEvent } from "../events.ts";

// A consumer whose PostgreSQL goes away for ~3 s (a real outage: its connections go through a TCP proxy that is
// stopped, then started again) keeps its event, retries it with backoff while that partition waits and the
// others flow, and applies it exactly once when the database is back; nothing is dead-lettered.
let infra: Infra;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let db: PrismaClient;
const CONSUMER = "outage-test";

beforeAll(async () => {
  infra = await connectTestInfra();
  await infra.prisma.$executeRawUnsafe("CREATE TABLE outage_effects (event_id uuid NOT NULL)");
  proxy = await startTcpProxy(targetOf(config.DATABASE_URL));
  db = createPrisma(proxy.url(config.DATABASE_URL), { poolSize: 2 });
});
afterAll(async () => {
  await db.$disconnect();
  await proxy.close();
  await infra.close();
});

const payment = (userId: string) =>
  createEvent<PaymentEvent>("PaymentSucceeded", randomUUID(), { paymentId: randomUUID(), orderId: randomUUID(), providerRef: userId });

const metric = async (m: typeof consumerRetries | typeof consumerPausedPartitions, labels: Record<string, string>) =>
  (await m.get()).values
    .filter((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val))
    .reduce((n, v) => n + v.value, 0);

test("a 3 s database outage is retried, not dead-lettered: the event is applied once, other partitions keep flowing", async () => {
  const groupId = `test-outage-${randomUUID()}`;
  const attempts = new Map<string, number>();
  const handled = new Set<string>();
  const failures: FailureKind[] = [];
  const consumer = await runConsumer({
    ctx: infra.kafka,
    producer: infra.producer,
    groupId,
    topics: ["payment"],
    logger,
    retry: { initialMs: 100, maxMs: 400 },
    handle: async (event) => {
      attempts.set(event.id, (attempts.get(event.id) ?? 0) + 1);
      const providerRef = (event.data as { providerRef: string }).providerRef;
      try {
        // "no-db" events touch nothing: they show whether the other partitions flow during the outage.
        if (providerRef !== "no-db") {
          await db.$transaction(async (tx) => {
            if (!(await markProcessed(tx, CONSUMER, event.id))) return;
            await tx.$executeRaw`INSERT INTO outage_effects (event_id) VALUES (${event.id}::uuid)`;
          });
        }
      } catch (error) {
        failures.push(classifyFailure(error));
        throw error;
      }
      handled.add(event.id);
    },
  });
  const send = (event: PaymentEvent, partition: number) =>
    infra.producer.send({ topic: infra.kafka.topic("payment"), acks: -1, messages: [{ ...toMessage(event), partition }] });
  const effects = async (id: string) =>
    Number((await infra.prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM outage_effects WHERE event_id = ${id}::uuid`)[0]!.n);
  try {
    const warm = payment("db");
    await send(warm, 0);
    await eventually(async () => (handled.has(warm.id) ? true : undefined), 20_000, "the first event");

    await proxy.stop();
    const down = Date.now();
    const during = payment("db");
    await send(during, 0);
    await eventually(async () => ((attempts.get(during.id) ?? 0) >= 2 ? true : undefined), 10_000, "a retry while the database is down");
    // The attempt is counted when the handler starts; the partition is paused once it has failed.
    await eventually(
      async () => ((await metric(consumerPausedPartitions, { group: groupId })) === 1 ? true : undefined),
      5_000,
      "the partition paused for the retry",
    );

    const elsewhere = payment("no-db");
    await send(elsewhere, 1);
    await eventually(async () => (handled.has(elsewhere.id) ? true : undefined), 10_000, "an event on another partition");
    expect(handled.has(during.id)).toBe(false);

    await new Promise((r) => setTimeout(r, Math.max(0, 3_000 - (Date.now() - down)))); // the outage lasts 3 s
    await proxy.start();
    await eventually(async () => ((await effects(during.id)) > 0 ? true : undefined), 15_000, "the event once the database is back");
    const after = payment("db");
    await send(after, 0);
    await eventually(async () => (handled.has(after.id) ? true : undefined), 10_000, "the next event on that partition");

    expect(await effects(during.id)).toBe(1);
    expect(attempts.get(during.id)).toBeGreaterThanOrEqual(3);
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(new Set(failures)).toEqual(new Set(["transient"])); // every pg error of the outage was recognised
    expect(await metric(consumerRetries, { group: groupId, kind: "transient" })).toBe(failures.length);
    expect(await metric(consumerPausedPartitions, { group: groupId })).toBe(0);
    const admin = infra.kafka.kafka.admin();
    await admin.connect();
    const dlq = await admin.fetchTopicOffsets(infra.kafka.topic("payment.dlq")).finally(() => admin.disconnect());
    expect(dlq.map((p) => Number(p.high) - Number(p.low))).toEqual([0]);
  } finally {
    await consumer.close();
  }
});
