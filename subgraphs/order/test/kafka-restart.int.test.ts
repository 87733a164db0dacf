import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { freePort } from "../../../common/ports.ts";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { config, gql, logger } from "../../../test/harness.ts";
import { createKafka, createProducer, ensureTopics, type KafkaContext, type Producer } from "../../../common/kafka/client.ts";
import { createPrisma, type PrismaClient } from "../../../common/prisma.ts";
import { createRedis, type Redis } from "../../../common/redis.ts";
import { startOutboxRelay } from "../../../common/outbox-relay.ts";
import { IDENTITY_HEADER, signInternalIdentity } from "../../../common/identity.ts";
import { startOrderSubgraph, type OrderStack } from "./stack.ts";
import { CANCEL_ORDER, ORDER, PAY_ORDER, PLACE_ORDER } from "../../../test/orders.ts";
import { eventually } from "../../../test/eventually.ts";
import { pgStock, redisStock } from "../../../test/stock.ts";

// Kafka stopped and started again under a running order service: orders are still taken while it is down,
// their events wait in the outbox and are all published when it is back, each status change as one event
// (the relay publishes at least once: a resent copy carries the same event id) and applied once. This test runs
// its own broker (scripts/infra.sh kafka-start), which its outbox relay publishes to; the database is the test
// file's own (docs/testing.md), so no other relay publishes its rows elsewhere.
const SLOW = 240_000; // a broker start takes ~10 s here, more on a loaded machine

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const BROKER_DIR = `${ROOT}.infra/kafka-order-restart`;
const DATABASE_URL = config.DATABASE_URL;

let port: number;
let controllerPort: number;
let prisma: PrismaClient;
let redis: Redis;
let kafka: KafkaContext;
let producer: Producer;
let relay: { close: () => Promise<void> };
let orders: OrderStack;

function infra(...args: string[]) {
  const result = spawnSync("bash", [`${ROOT}scripts/infra.sh`, ...args], { encoding: "utf8", timeout: 180_000 });
  if (result.status !== 0) throw new Error(`infra.sh ${args.join(" ")} failed: ${result.stderr}${result.stdout}`);
}

beforeAll(async () => {
  infra("kafka-stop", BROKER_DIR);
  rmSync(BROKER_DIR, { recursive: true, force: true }); // a fresh cluster: no offsets or events from earlier runs
  port = await freePort();
  do controllerPort = await freePort();
  while (controllerPort === port);
  infra("kafka-start", BROKER_DIR, String(port), String(controllerPort));
  prisma = createPrisma(DATABASE_URL, { poolSize: 5 });
  redis = createRedis(config.REDIS_URL);
  kafka = createKafka({ brokers: [`127.0.0.1:${port}`], clientId: "order-restart-test", logger, topicPrefix: "restart." });
  await ensureTopics(kafka, 3);
  producer = await createProducer(kafka);
  relay = startOutboxRelay({ databaseUrl: DATABASE_URL, ctx: kafka, producer, logger, pollMs: 200 });
  orders = await startOrderSubgraph({ prisma, redis, kafka, producer, logger, config }, { workers: true });
}, SLOW);

afterAll(async () => {
  await orders?.close();
  await relay?.close();
  await producer?.disconnect().catch(() => undefined);
  await prisma?.$disconnect();
  redis?.disconnect();
  infra("kafka-stop", BROKER_DIR);
}, SLOW);

async function call(userId: string, query: string, variables: Record<string, unknown>) {
  const identity = await signInternalIdentity({ user: { id: userId, roles: [], isAdmin: false } }, config.INTERNAL_SECRET);
  const res = await gql(orders.url, query, variables, { headers: { [IDENTITY_HEADER]: identity } });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return Object.values(res.data!)[0] as { id: string; status: string; cancelReason: string | null };
}

async function product(stock: number): Promise<string> {
  const id = randomUUID();
  await prisma.product.create({ data: { id, sku: `RST-${id.slice(0, 12)}`, name: "Restart", description: "", priceCents: 500, currency: "USD" } });
  await prisma.stock.create({ data: { productId: id, available: stock } });
  return id;
}

const placeAndPay = async (userId: string, productId: string, quantity: number) => {
  const order = await call(userId, PLACE_ORDER, { input: { idempotencyKey: randomUUID(), items: [{ productId, quantity }] } });
  await call(userId, PAY_ORDER, { id: order.id, token: "tok_visa" });
  return order;
};

const statusOf = async (id: string) => (await prisma.order.findUniqueOrThrow({ where: { id }, select: { status: true } })).status;

test(
  "with Kafka down orders are still taken; when it returns every status change is published as one event and applied exactly once",
  async () => {
    const productId = await product(20);
    const user = `buyer-${randomUUID()}`;
    const before = await placeAndPay(user, productId, 1);
    await eventually(async () => ((await statusOf(before.id)) === "CONFIRMED" ? true : undefined), 60_000, "the first order to confirm");

    infra("kafka-stop", BROKER_DIR);
    const paid = [];
    for (let i = 0; i < 4; i++) paid.push(await placeAndPay(user, productId, 2));
    const cancelled = await call(user, PLACE_ORDER, { input: { idempotencyKey: randomUUID(), items: [{ productId, quantity: 3 }] } });
    expect((await call(user, CANCEL_ORDER, { id: cancelled.id })).status).toBe("CANCELLED");
    for (const order of paid) expect(await statusOf(order.id)).toBe("RESERVED");
    expect(await pgStock(prisma, productId)).toEqual({ available: 20 - 1 - 8, reserved: 8, sold: 1 });
    const waiting = await prisma.outboxEvent.count({ where: { key: { in: [...paid, cancelled].map((o) => o.id) }, publishedAt: null } });
    expect(waiting).toBeGreaterThanOrEqual(paid.length * 2 + 2); // RESERVED and PaymentRequested per paid order, and the cancellation's

    // Time that must pass, not a wait for a condition: the outage has to outlast every client's retries, so that
    // consumers crash and restart and the relay backs off before the broker returns.
    await new Promise((r) => setTimeout(r, 15_000));
    infra("kafka-start", BROKER_DIR, String(port), String(controllerPort));
    for (const order of paid) {
      await eventually(async () => ((await statusOf(order.id)) === "CONFIRMED" ? true : undefined), 120_000, `order ${order.id} to confirm`);
    }
    await eventually(
      async () => ((await prisma.outboxEvent.count({ where: { publishedAt: null } })) === 0 ? true : undefined),
      30_000,
      "the outbox to drain",
    );

    expect(await pgStock(prisma, productId)).toEqual({ available: 11, reserved: 0, sold: 9 });
    expect(await redisStock(redis, productId)).toEqual({ available: 11, reserved: 0, sold: 9 });
    expect(await statusOf(cancelled.id)).toBe("CANCELLED");
    const payments = await prisma.payment.findMany({ where: { orderId: { in: paid.map((o) => o.id) } } });
    expect(payments.map((p) => p.status)).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
    // Every status change of every order reached Kafka as exactly one event: the whole topic, read back to its
    // end, grouped by event id. A copy the relay sent again is the same event (same id, same payload).
    const messages = await readAll(kafka, "order");
    const copies = new Map<string, string[]>();
    for (const event of messages) copies.set(event.id, [...(copies.get(event.id) ?? []), JSON.stringify(event)]);
    for (const same of copies.values()) expect(new Set(same).size).toBe(1);
    const events = [...copies.values()].map((same) => JSON.parse(same[0]!));
    const statusesOf = (orderId: string) =>
      events
        .filter((e) => e.aggregateId === orderId)
        .map((e) => e.data.order.status)
        .sort();
    for (const order of [before, ...paid]) expect(statusesOf(order.id)).toEqual(["CONFIRMED", "PAID", "RESERVED"]);
    expect(statusesOf(cancelled.id)).toEqual(["CANCELLED", "RESERVED"]);
    expect(events).toHaveLength((1 + paid.length) * 3 + 2);
    expect((await call(user, ORDER, { id: paid[0]!.id })).status).toBe("CONFIRMED");
  },
  SLOW,
);

/** Every message on a topic, from its beginning to its end as of now (duplicates included), with a throwaway group. */
async function readAll(ctx: KafkaContext, topic: string): Promise<any[]> {
  const name = ctx.topic(topic);
  const admin = ctx.kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(name).finally(() => admin.disconnect());
  // Partition -> the offset after its last message; a partition is done once its message before that arrived.
  const pending = new Map(offsets.filter((p) => Number(p.high) > Number(p.low)).map((p) => [p.partition, Number(p.high)]));
  const events: any[] = [];
  const consumer = ctx.kafka.consumer({ groupId: `restart-reader-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: name, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      events.push(JSON.parse(message.value!.toString()));
      if (Number(message.offset) + 1 >= (pending.get(partition) ?? 0)) pending.delete(partition);
    },
  });
  try {
    return await eventually(async () => (pending.size === 0 ? events : undefined), 60_000, `every message on ${name}`);
  } finally {
    await consumer.disconnect();
  }
}
