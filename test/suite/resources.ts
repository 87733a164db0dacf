import { randomBytes } from "node:crypto";
import pg from "pg";
import { Redis } from "ioredis";
import { createKafka, ensureTopics, type KafkaContext } from "../../common/kafka/client.ts";
import { createLogger } from "../../common/logger.ts";

/**
 * What one test file owns: a PostgreSQL database copied from the migrated template, a Redis database of its
 * own, and a Kafka topic prefix (the platform names its consumer groups after the prefix too). They are made
 * before the file loads and dropped after it (test/suite/environment.cjs), so no suite sees another suite's
 * data or an earlier run's.
 *
 * Names carry the pid of the run that made them (`<test db>_r<pid>_<hex>`, `<topic prefix>r<pid>.<hex>.`),
 * so a later run can drop what a killed run left behind without touching a run still going.
 */
export interface SuiteResources {
  /** Environment of the test file: DATABASE_URL, REDIS_URL, KAFKA_TOPIC_PREFIX. */
  env: Record<string, string>;
  release: () => Promise<void>;
}

/** Redis databases suites lease (0 is `npm start`'s; 14 and 15 are the benchmarks'). */
const REDIS_DATABASES = Array.from({ length: 13 }, (_, i) => i + 1);
/** A lease outlives any suite; a killed run's lease lapses after it. */
const LEASE_MS = 60 * 60_000;
const leaseKey = (db: number) => `flashgraph:test-suite-lease:${db}`;

const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));
const withDatabase = (url: string, name: string) => Object.assign(new URL(url), { pathname: `/${encodeURIComponent(name)}` }).toString();
const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The migrated database every suite's database is copied from: `<test db>_template`. */
export const templateUrl = (testDatabaseUrl: string) => withDatabase(testDatabaseUrl, `${databaseName(testDatabaseUrl)}_template`);

async function withAdmin<T>(databaseUrl: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withDatabase(databaseUrl, "postgres"), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Copies the template; a concurrent copy of the same template is retried (PostgreSQL refuses two at once). */
async function copyTemplate(client: pg.Client, template: string, name: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(`CREATE DATABASE ${quote(name)} TEMPLATE ${quote(template)} STRATEGY FILE_COPY`);
      return;
    } catch (error) {
      if (attempt >= 50 || !/being accessed by other users/.test(String(error))) throw error;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 100));
    }
  }
}

async function leaseRedisDatabase(redisUrl: string, owner: string): Promise<number> {
  const redis = new Redis(redisUrl, { db: 0, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      for (const db of REDIS_DATABASES) {
        if ((await redis.set(leaseKey(db), owner, "PX", LEASE_MS, "NX")) !== "OK") continue;
        await redis.select(db);
        await redis.flushdb();
        return db;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no free Redis database for a test suite among ${REDIS_DATABASES.join(",")} within 120 s`);
  } finally {
    redis.disconnect();
  }
}

async function releaseRedisDatabase(redisUrl: string, db: number, owner: string) {
  const redis = new Redis(redisUrl, { db, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    await redis.flushdb();
    await redis.select(0);
    if ((await redis.get(leaseKey(db))) === owner) await redis.del(leaseKey(db));
  } finally {
    redis.disconnect();
  }
}

/**
 * The platform's topics under the suite's prefix. While other suites create and delete theirs, the broker can
 * take longer to elect leaders than kafkajs's own retries wait, so the (idempotent) creation is repeated.
 */
async function createTopics(ctx: KafkaContext, partitions: number) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await ensureTopics(ctx, partitions);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function deleteTopics(brokers: string, clientId: string, prefix: string) {
  const ctx = createKafka({ brokers: brokers.split(","), clientId, logger: createLogger("test-suite", "silent") });
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Makes a suite's database, Redis database and topics. `base` is the run's environment (scripts/test.ts):
 * DATABASE_URL names the test database whose `_template` copy is migrated, TEST_RUN_ID the run.
 */
export async function createSuiteResources(base: NodeJS.ProcessEnv): Promise<SuiteResources> {
  const runId = base.TEST_RUN_ID ?? String(process.ppid);
  const id = `r${runId}_${randomBytes(4).toString("hex")}`;
  const testDb = base.DATABASE_URL!;
  const name = `${databaseName(testDb)}_${id}`;
  const topicPrefix = `${base.KAFKA_TOPIC_PREFIX ?? "test."}${id.replace("_", ".")}.`;
  const redisUrl = base.REDIS_URL ?? "redis://127.0.0.1:6379";
  const brokers = base.KAFKA_BROKERS ?? "127.0.0.1:9092";
  const partitions = Number(base.KAFKA_PARTITIONS ?? 6);

  let redisDb: number | undefined;
  const release = async () => {
    const results = await Promise.allSettled([
      withAdmin(testDb, (client) => client.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`)),
      redisDb === undefined ? undefined : releaseRedisDatabase(redisUrl, redisDb, id),
      deleteTopics(brokers, id, topicPrefix),
    ]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length) throw new Error(`releasing test suite ${id}: ${failed.map((f) => String(f.reason)).join("; ")}`);
  };
  const made = await Promise.allSettled([
    withAdmin(testDb, (client) => copyTemplate(client, databaseName(templateUrl(testDb)), name)),
    leaseRedisDatabase(redisUrl, id).then((db) => void (redisDb = db)),
    createTopics(createKafka({ brokers: brokers.split(","), clientId: id, logger: createLogger("test-suite", "silent"), topicPrefix }), partitions),
  ]);
  const failed = made.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await release().catch(() => undefined);
    throw failed.reason;
  }
  return {
    env: {
      DATABASE_URL: withDatabase(testDb, name),
      REDIS_URL: Object.assign(new URL(redisUrl), { pathname: `/${redisDb}` }).toString(),
      KAFKA_TOPIC_PREFIX: topicPrefix,
      TEST_SUITE_ID: id,
    },
    release,
  };
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Drops the databases and topics of runs whose process is gone (a killed or interrupted `npm test`). */
export async function dropLeftovers(base: NodeJS.ProcessEnv): Promise<{ databases: string[]; topics: string[] }> {
  const testDb = base.DATABASE_URL!;
  const dbPattern = new RegExp(`^${databaseName(testDb).replace(/[^\w]/g, "\\$&")}_r(\\d+)_[0-9a-f]+$`);
  const databases = await withAdmin(testDb, async (client) => {
    const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database");
    const stale = rows
      .map((r) => r.datname)
      .filter((n) => {
        const m = dbPattern.exec(n);
        return m && !isAlive(Number(m[1]));
      });
    for (const n of stale) await client.query(`DROP DATABASE IF EXISTS ${quote(n)} WITH (FORCE)`);
    return stale;
  });
  const prefix = base.KAFKA_TOPIC_PREFIX ?? "test.";
  const topicPattern = new RegExp(`^${prefix.replace(/[^\w]/g, "\\$&")}r(\\d+)\\.`);
  const ctx = createKafka({
    brokers: (base.KAFKA_BROKERS ?? "127.0.0.1:9092").split(","),
    clientId: "test-leftovers",
    logger: createLogger("test-suite", "silent"),
  });
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => {
      const m = topicPattern.exec(t);
      return m && !isAlive(Number(m[1]));
    });
    if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 });
    return { databases, topics };
  } finally {
    await admin.disconnect();
  }
}
