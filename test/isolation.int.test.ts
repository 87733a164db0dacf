import { Redis } from "ioredis";
import { config, connectTestInfra, type Infra } from "./harness.ts";

// What every test file relies on (test/suite/): it starts with a database, a Redis database and Kafka topics
// that are its own and empty, whatever other files or earlier runs did.
let infra: Infra;
beforeAll(async () => void (infra = await connectTestInfra()));
afterAll(() => infra.close());

const runId = process.env.TEST_RUN_ID ?? "\\d+";

test("the file's PostgreSQL database is its own copy of the migrated template, with no rows", async () => {
  const name = decodeURIComponent(new URL(config.DATABASE_URL).pathname.slice(1));
  expect(name).toMatch(new RegExp(`_r${runId}_[0-9a-f]{8}$`));
  const [row] = await infra.prisma.$queryRaw<{ current: string }[]>`SELECT current_database() AS current`;
  expect(row?.current).toBe(name);
  const counts = await Promise.all([infra.prisma.product.count(), infra.prisma.order.count(), infra.prisma.stock.count()]);
  expect(counts).toEqual([0, 0, 0]);
  const [applied] = await infra.prisma.$queryRaw<
    { migrations: bigint }[]
  >`SELECT count(*) AS migrations FROM "_prisma_migrations" WHERE finished_at IS NOT NULL`;
  expect(Number(applied?.migrations)).toBeGreaterThan(0);
});

test("the file's Redis database is leased to it alone and starts empty", async () => {
  const db = Number(new URL(config.REDIS_URL).pathname.slice(1));
  expect(db).toBeGreaterThanOrEqual(1);
  expect(db).toBeLessThanOrEqual(13);
  expect(await infra.redis.dbsize()).toBe(0);
  const lease = new Redis(Object.assign(new URL(config.REDIS_URL), { pathname: "/0" }).toString());
  try {
    expect(await lease.get(`flashgraph:test-suite-lease:${db}`)).toBe(process.env.TEST_SUITE_ID);
  } finally {
    lease.disconnect();
  }
});

test("the file's Kafka topics carry its own prefix and hold no messages", async () => {
  expect(config.KAFKA_TOPIC_PREFIX).toMatch(new RegExp(`r${runId}\\.[0-9a-f]{8}\\.$`));
  const admin = infra.kafka.kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(config.KAFKA_TOPIC_PREFIX));
    expect(topics.sort()).toEqual(
      expect.arrayContaining([infra.kafka.topic("order"), infra.kafka.topic("order.dlq"), infra.kafka.topic("flash-order")]),
    );
    for (const topic of topics) {
      const offsets = await admin.fetchTopicOffsets(topic);
      expect(offsets.every((o) => o.high === "0")).toBe(true);
    }
  } finally {
    await admin.disconnect();
  }
});
