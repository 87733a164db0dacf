import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { loadConfig, type Config } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { createPrisma, type PrismaClient } from "../common/prisma.ts";
import { createRedis, type Redis } from "../common/redis.ts";
import { createKafka, createProducer, ensureTopics, type KafkaContext, type Producer } from "../common/kafka/client.ts";
import { startOutboxRelay } from "../common/outbox-relay.ts";
import { signClientToken } from "../common/identity.ts";
import { SUBGRAPHS, SUPERGRAPH_FILE } from "../schema/compose.ts";
import { createProductService } from "../subgraphs/product/src/server.ts";
import { connectProductCaching } from "../subgraphs/product/src/cache/caching.ts";
import type { CacheOptions } from "../subgraphs/product/src/cache/options.ts";
import { createInventoryService } from "../subgraphs/inventory/src/server.ts";
import { startOrderSubgraph, type OrderStackOptions } from "../subgraphs/order/test/stack.ts";
import { startFlashSaleSubgraph, type FlashStackOptions } from "../subgraphs/flash-sale/test/stack.ts";
import { createEventHub } from "../common/event-hub.ts";
import { createRouter } from "../router/src/server.ts";

/** The test file's own database, Redis database and topic prefix, put in its `process.env` by test/suite/. */
export const config: Config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" });
export const logger = createLogger("test", config.LOG_LEVEL);

export interface GraphQLResponse<T = Record<string, any>> {
  data?: T | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, any> }[];
}

/** POSTs an operation the way a client does (JSON, so Apollo's CSRF prevention lets it through). */
export async function gql<T = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  options: { token?: string; headers?: Record<string, string> } = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResponse<T>;
}

/** The `extensions.code` of a response's first error (undefined when it has none). */
export const codeOf = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code as string | undefined;

export const token = (sub: string, roles: string[] = []) => signClientToken(config.JWT_SECRET, sub, roles);
export const adminToken = () => token(`admin-${randomUUID()}`, ["admin"]);
export const uniqueSku = (prefix = "SKU") => `${prefix}-${randomUUID().slice(0, 12)}`;

/**
 * Counts the writes a Redis connection's current socket hands to the kernel (`_write` and `_writev` calls):
 * one per round trip, however many commands it carries (createRedis corks a turn's commands into one).
 */
export function countSocketWrites(redis: Redis) {
  const socket = redis.stream as unknown as Record<"_write" | "_writev", (...args: unknown[]) => unknown>;
  let count = 0;
  for (const name of ["_write", "_writev"] as const) {
    const write = socket[name].bind(socket);
    socket[name] = (...args: unknown[]) => (count++, write(...args));
  }
  return { get: () => count, reset: () => void (count = 0) };
}

export interface Infra {
  prisma: PrismaClient;
  redis: Redis;
  kafka: KafkaContext;
  producer: Producer;
  close: () => Promise<void>;
}

export interface TestInfraOptions {
  /**
   * A broker of the test's own (e.g. test/chaos/infra.ts `startOwnKafka`) instead of the shared `config.KAFKA_BROKERS`:
   * for tests that stop or pause Kafka (docs/testing.md). The file's topics are made on it under its prefix.
   */
  kafkaBrokers?: string;
}

export async function connectTestInfra(options: TestInfraOptions = {}): Promise<Infra> {
  const kafka = createKafka({
    brokers: (options.kafkaBrokers ?? config.KAFKA_BROKERS).split(","),
    clientId: "test",
    logger,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
  });
  // The test environment (test/suite/resources.ts) made the file's topics on the shared broker only.
  if (options.kafkaBrokers) await ensureTopics(kafka, config.KAFKA_PARTITIONS);
  const prisma = createPrisma(config.DATABASE_URL, { poolSize: 5 });
  const redis = createRedis(config.REDIS_URL);
  const producer = await createProducer(kafka);
  return {
    prisma,
    redis,
    kafka,
    producer,
    close: async () => {
      await producer.disconnect();
      redis.disconnect();
      await prisma.$disconnect();
    },
  };
}

type Closable = { close: () => Promise<unknown> };

/**
 * The product and inventory subgraphs and the router, in this process on free ports, against the real
 * services. Later subgraphs add themselves to `extraSubgraphs`.
 */
export async function startStack(
  options: { relay?: boolean; order?: OrderStackOptions; flash?: FlashStackOptions; productCache?: CacheOptions } & TestInfraOptions = {},
) {
  const infra = await connectTestInfra({ kafkaBrokers: options.kafkaBrokers });
  const closers: Closable[] = [];
  const serviceDeps = { prisma: infra.prisma, logger, internalSecret: config.INTERNAL_SECRET };
  const cache = options.productCache
    ? await connectProductCaching({ redis: infra.redis, redisUrl: config.REDIS_URL, options: options.productCache, logger })
    : undefined;
  if (cache) closers.push(cache);
  const product = await createProductService({ ...serviceDeps, cache });
  const inventoryHub = await createEventHub({ ctx: infra.kafka, topics: ["inventory"], service: "inventory-test", logger });
  closers.push(inventoryHub);
  const inventory = await createInventoryService({ ...serviceDeps, redis: infra.redis, hub: inventoryHub });
  const urls: Record<string, string> = {};
  for (const [name, service] of [
    ["product", product],
    ["inventory", inventory],
  ] as const) {
    urls[name] = `http://127.0.0.1:${await service.listen(0, "127.0.0.1")}/graphql`;
    closers.push(service);
  }
  // The order service runs the flash order writer (subgraphs/order/src/main.ts); so does the stack's order subgraph.
  const order = await startOrderSubgraph({ ...infra, logger, config }, { flashWriter: true, ...options.order });
  urls.order = order.url;
  closers.push(order);
  const flash = await startFlashSaleSubgraph({ ...infra, logger, config, orderExpiryIndex: order.domain.reservations.index }, options.flash);
  urls["flash-sale"] = flash.url;
  closers.push(flash);
  const router = await startRouter(urls);
  const routerUrl = router.url;
  closers.push(router);
  if (options.relay) {
    const relay = startOutboxRelay({ databaseUrl: config.DATABASE_URL, ctx: infra.kafka, producer: infra.producer, logger, pollMs: 200 });
    closers.push(relay);
  }
  return {
    ...infra,
    routerUrl,
    urls,
    order,
    flash,
    gql: <T = Record<string, any>>(query: string, variables?: Record<string, unknown>, opts?: { token?: string }) =>
      gql<T>(routerUrl, query, variables, opts),
    close: async () => {
      for (const c of closers.reverse()) await c.close();
      await infra.close();
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/** A router on a free port in front of the given subgraph URLs; `options` override its defaults. */
export async function startRouter(urls: Record<string, string>, options: Partial<Parameters<typeof createRouter>[0]> = {}) {
  const router = await createRouter({
    supergraphSdl: readFileSync(SUPERGRAPH_FILE, "utf8"),
    subgraphUrls: Object.fromEntries(SUBGRAPHS.filter((s) => urls[s.name]).map((s) => [s.name, urls[s.name]!])),
    jwtSecret: config.JWT_SECRET,
    internalSecret: config.INTERNAL_SECRET,
    logger,
    ...options,
  });
  const url = `http://127.0.0.1:${await router.listen(0, "127.0.0.1")}/graphql`;
  return { url, router, close: () => router.close() };
}

/**
 * Collects the events published to `topic` from now on: the consumer (own group) seeks every partition
 * to its current end before the caller acts, so history is skipped and nothing new is missed.
 */
export async function watchTopic(kafka: KafkaContext, topic: string) {
  const name = kafka.topic(topic);
  const admin = kafka.kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(name);
  await admin.disconnect();
  const events: any[] = [];
  const consumer = kafka.kafka.consumer({ groupId: `test-watch-${randomUUID()}`, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topic: name, fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({ eachMessage: async ({ message }) => void events.push(JSON.parse(message.value!.toString())) });
  for (const { partition, offset } of offsets) consumer.seek({ topic: name, partition, offset });
  await joined;
  return {
    events,
    /** Resolves with the first event matching `predicate`, or rejects after `timeoutMs`. */
    async waitFor(predicate: (event: any) => boolean, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = events.find(predicate);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no matching event on ${name} within ${timeoutMs} ms (saw ${events.length})`);
    },
    close: () => consumer.disconnect(),
  };
}
