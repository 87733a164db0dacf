import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";
import { createPrisma } from "./prisma.ts";
import { createRedis } from "./redis.ts";
import { createKafka, createProducer } from "./kafka/client.ts";
import { consumerRetryPolicy } from "./kafka/retry.ts";
import { startOutboxRelay, type RelayRole } from "./outbox-relay.ts";
import type { createLifecycle } from "./runtime.ts";
import type { ReadinessCheck } from "./service.ts";

type Lifecycle = ReturnType<typeof createLifecycle>;

/** Connects the dependencies a service asks for, registers each for shutdown, and returns readiness checks. */
export async function connectInfra(
  config: Config,
  logger: Logger,
  lifecycle: Lifecycle,
  service: string,
  needs: { redis?: boolean; relay?: RelayRole },
) {
  const prisma = lifecycle.add("prisma", createPrisma(config.DATABASE_URL), (p) => p.$disconnect());
  const readiness: ReadinessCheck[] = [{ name: "postgres", check: () => prisma.$queryRaw`SELECT 1` }];
  const replicaAck = { replicas: config.REDIS_WAIT_REPLICAS, timeoutMs: config.REDIS_WAIT_TIMEOUT_MS, logger };
  const redis = needs.redis ? lifecycle.add("redis", createRedis(config.REDIS_URL, { replicaAck }), (r) => r.quit()) : null;
  if (redis) readiness.push({ name: "redis", check: () => redis.ping() });
  const kafka = createKafka({
    brokers: config.KAFKA_BROKERS.split(","),
    clientId: service,
    logger,
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
    consumerRetry: consumerRetryPolicy(config),
  });
  const producer = lifecycle.add("kafka-producer", await createProducer(kafka), (p) => p.disconnect());
  readiness.push({
    name: "kafka",
    check: async () => {
      const admin = kafka.kafka.admin();
      await admin.connect();
      try {
        await admin.describeCluster();
      } finally {
        await admin.disconnect();
      }
    },
  });
  const relay = needs.relay
    ? lifecycle.add("outbox-relay", startOutboxRelay({ databaseUrl: config.DATABASE_URL, ctx: kafka, producer, logger, role: needs.relay }), (r) =>
        r.close(),
      )
    : null;
  return { prisma, redis, kafka, producer, relay, readiness };
}
