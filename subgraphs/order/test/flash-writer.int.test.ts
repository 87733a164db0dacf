import { randomUUID, createHash } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { config, connectTestInfra, logger, type Infra } from "../../../test/harness.ts";
import { eventually } from "../../../test/eventually.ts";
import { startTcpProxy, targetOf } from "../../../test/tcp-proxy.ts";
import { createPrisma, type PrismaClient } from "../../../common/prisma.ts";
import { toMessage } from "../../../common/kafka/publish.ts";
import { listDeadLetters } from "../../../common/kafka/dead-letters.ts";
import { consumerRetries } from "../../../common/kafka/metrics.ts";
import { createEvent, type FlashOrderEvent } from "../../../common/events.ts";
import { startFlashOrderWriter } from "../src/flash/order-consumer.ts";

// The flash order writer loses no order to a database outage (its batch waits and is written again) and sets a
// poison order aside without holding or dropping the rest of its batch.
let infra: Infra;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let db: PrismaClient;
beforeAll(async () => {
  infra = await connectTestInfra();
  proxy = await startTcpProxy(targetOf(config.DATABASE_URL));
  db = createPrisma(proxy.url(config.DATABASE_URL), { poolSize: 2 });
});
afterAll(async () => {
  await db.$disconnect();
  await proxy.close();
  await infra.close();
});

const saleId = randomUUID();
const productId = randomUUID();
const placed = (overrides: Partial<FlashOrderEvent["data"]> = {}) => {
  const orderId = randomUUID();
  return createEvent<FlashOrderEvent>("FlashOrderPlaced", productId, {
    orderId,
    userId: `buyer-${orderId.slice(0, 8)}`,
    idempotencyKey: orderId,
    requestHash: createHash("sha256").update(orderId).digest("hex"),
    saleId,
    productId,
    quantity: 1,
    unitPriceCents: 999,
    currency: "EUR",
    reservedUntil: new Date(Date.now() + 900_000).toISOString(),
    createdAt: new Date().toISOString(),
    ...overrides,
  });
};

const written = async (orderIds: string[]) =>
  Number(
    (
      await infra.prisma.$queryRaw<
        { n: bigint }[]
      >`SELECT count(*) AS n FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.id = ANY(${orderIds}::uuid[])`
    )[0]!.n,
  );

async function startWriter() {
  const groupId = infra.kafka.topic(`flash-writer-test-${randomUUID()}`);
  const writer = await startFlashOrderWriter({
    ctx: infra.kafka,
    producer: infra.producer,
    prisma: db,
    redis: infra.redis,
    logger,
    groupId,
    batchSize: 10,
    startAt: "now",
    retry: { initialMs: 100, maxMs: 400 },
  });
  return { groupId, writer };
}

test("a 3 s database outage loses no flash order: the batch waits and every order is written once", async () => {
  const { groupId, writer } = await startWriter();
  try {
    await proxy.stop();
    const down = Date.now();
    const events = Array.from({ length: 25 }, () => placed());
    await infra.producer.send({ topic: infra.kafka.topic("flash-order"), acks: -1, messages: events.map(toMessage) });
    await eventually(
      async () => ((await consumerRetries.get()).values.some((v) => v.labels.group === groupId && v.value >= 2) ? true : undefined),
      10_000,
      "the writer retrying while the database is down",
    );
    await new Promise((r) => setTimeout(r, Math.max(0, 3_000 - (Date.now() - down)))); // the outage lasts 3 s
    await proxy.start();
    const ids = events.map((e) => e.data.orderId);
    await eventually(async () => ((await written(ids)) === ids.length ? true : undefined), 20_000, "every order written");
    const outbox = await infra.prisma.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM outbox_events WHERE type = 'OrderStatusChanged' AND key = ANY(${ids})`;
    expect(Number(outbox[0]!.n)).toBe(ids.length); // one OrderStatusChanged(RESERVED) each, not more
    expect((await listDeadLetters(infra.kafka, "flash-order")).count).toBe(0);
  } finally {
    await writer.close();
  }
});

test("a poison order in a batch is dead-lettered alone; the orders around it are written", async () => {
  const { writer } = await startWriter();
  try {
    const good = Array.from({ length: 12 }, () => placed());
    const poison = placed({ quantity: 1_000_000, unitPriceCents: 1_000_000 }); // total_cents overflows PostgreSQL's int
    const messages = [...good.slice(0, 6).map(toMessage), toMessage(poison), { key: productId, value: "{" }, ...good.slice(6).map(toMessage)];
    await infra.producer.send({ topic: infra.kafka.topic("flash-order"), acks: -1, messages });
    const ids = good.map((e) => e.data.orderId);
    await eventually(async () => ((await written(ids)) === ids.length ? true : undefined), 20_000, "the good orders written");
    const listing = await eventually(async () => {
      const l = await listDeadLetters(infra.kafka, "flash-order");
      return l.count >= 2 ? l : undefined;
    });
    expect(listing.letters.map((l) => [l.eventId, l.kind])).toEqual([
      [poison.id, "permanent"],
      [null, "malformed"],
    ]);
    expect(listing.letters[0]!.error).toMatch(/out of range/);
    expect(await written([poison.data.orderId])).toBe(0);
  } finally {
    await writer.close();
  }
});
