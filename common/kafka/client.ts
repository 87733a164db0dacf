import { Kafka, logLevel, Partitioners, type Producer, type Consumer, type LogEntry } from "kafkajs";
import type { Logger } from "../logger.ts";
import { TOPICS, dlqTopic } from "../events.ts";
import type { RetryPolicy } from "./retry.ts";

export type { Producer, Consumer };

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /** Prefix of every topic name (default ""). */
  topicPrefix?: string;
  /** How this process's consumers back off (KAFKA_CONSUMER_RETRY_*; default DEFAULT_RETRY_POLICY, common/kafka/retry.ts). */
  consumerRetry?: Partial<RetryPolicy>;
}

export interface KafkaContext {
  kafka: Kafka;
  topic: (name: string) => string;
  /** The consumers' retry policy, as configured (runConsumer fills in the defaults). */
  consumerRetry?: Partial<RetryPolicy>;
}

const LEVELS: Record<number, "error" | "warn" | "info" | "debug"> = {
  [logLevel.ERROR]: "error",
  [logLevel.WARN]: "warn",
  [logLevel.INFO]: "info",
  [logLevel.DEBUG]: "debug",
};

export function createKafka({ brokers, clientId, logger, topicPrefix = "", consumerRetry }: KafkaOptions): KafkaContext {
  const kafkaLogger = logger.child({ component: "kafkajs" });
  const kafka = new Kafka({
    clientId,
    brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 100, retries: 5, maxRetryTime: 2_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...extra } = log;
        kafkaLogger[LEVELS[level] ?? "info"](extra, message);
      },
  });
  return { kafka, topic: (name) => `${topicPrefix}${name}`, consumerRetry };
}

/** Creates every platform topic and its dead-letter topic with an explicit partition count; existing ones are kept. */
export async function ensureTopics(ctx: KafkaContext, partitions: number, names: readonly string[] = TOPICS): Promise<void> {
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = names.flatMap((n) => [ctx.topic(n), ctx.topic(dlqTopic(n))]).filter((t) => !existing.has(t));
    if (wanted.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: wanted.map((topic) => ({ topic, numPartitions: topic.endsWith(".dlq") ? 1 : partitions, replicationFactor: 1 })),
      });
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * One request in flight per broker keeps each key's events in order across retries. Delivery is at
 * least once (kafkajs's idempotent mode wants unbounded retries, which would hang callers while Kafka
 * is down); every consumer deduplicates by event id.
 */
export async function createProducer(ctx: KafkaContext): Promise<Producer> {
  const producer = ctx.kafka.producer({ maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return producer;
}
