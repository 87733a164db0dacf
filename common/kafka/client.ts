import { Kafka, logLevel, Partitioners, type Admin, type Producer, type Consumer, type LogEntry } from "kafkajs";
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

/**
 * How many copies of each partition a cluster of `brokers` keeps: 3 once there are 3 brokers, with writes (acks=all,
 * every producer here) acknowledged when 2 of them have it, so one broker may die without losing an acknowledged
 * event or refusing writes; on fewer brokers, one copy (docs/scale-out.md).
 */
export function replicationFor(brokers: number): { replicationFactor: number; minInsyncReplicas: number } {
  return brokers >= 3 ? { replicationFactor: 3, minInsyncReplicas: 2 } : { replicationFactor: 1, minInsyncReplicas: 1 };
}

/**
 * Creates every platform topic and its dead-letter topic with an explicit partition count, replicated as
 * `replicationFor` says for the brokers the cluster has now; existing ones are kept as they are.
 */
export async function ensureTopics(ctx: KafkaContext, partitions: number, names: readonly string[] = TOPICS): Promise<void> {
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = names.flatMap((n) => [ctx.topic(n), ctx.topic(dlqTopic(n))]).filter((t) => !existing.has(t));
    if (wanted.length > 0) {
      const { brokers } = await admin.describeCluster();
      const { replicationFactor, minInsyncReplicas } = replicationFor(brokers.length);
      await admin.createTopics({
        waitForLeaders: false, // kafkajs's own wait gives up when a broker does not know a new topic yet (below)
        topics: wanted.map((topic) => ({
          topic,
          numPartitions: topic.endsWith(".dlq") ? 1 : partitions,
          replicationFactor,
          configEntries: [{ name: "min.insync.replicas", value: String(minInsyncReplicas) }],
        })),
      });
      // A client asks whichever broker it is connected to: every one must know the topics before anyone uses them.
      await Promise.all(brokers.map((b) => withBroker(`${b.host}:${b.port}`, (one) => waitForLeaders(one, wanted))));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Runs `work` with an admin client whose only connection is to `broker`, so its metadata comes from that broker. */
async function withBroker<T>(broker: string, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({ clientId: "ensure-topics", brokers: [broker], logLevel: logLevel.NOTHING, connectionTimeout: 3_000 }).admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Waits until every partition of `topics` has a leader. On a cluster the broker asked may not know a topic the
 * controller just created (UNKNOWN_TOPIC_OR_PARTITION) for a moment; kafkajs retries only LEADER_NOT_AVAILABLE.
 */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      if (found.length === topics.length && found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (error) {
      const type = (error as { type?: string }).type;
      if (type !== "UNKNOWN_TOPIC_OR_PARTITION" && type !== "LEADER_NOT_AVAILABLE") throw error;
    }
    if (Date.now() > deadline) throw new Error(`topics without a leader after ${timeoutMs} ms: ${topics.join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * One request in flight per broker keeps each key's events in order across retries. Every send asks for acks=all
 * (-1): on a 3-broker cluster an event is acknowledged once min.insync.replicas (2) brokers have it.
 *
 * Delivery is at least once, and every consumer deduplicates by event id; kafkajs's idempotent mode is off on
 * purpose. With bounded retries it can lose events: after a failed attempt kafkajs rolls the partition's sequence
 * number back (producer/sendMessages.js), so if the broker did append that batch, the next, different batch reuses
 * its numbers and the broker drops it as a duplicate. With the unbounded retries it requires, a send never fails
 * while Kafka is away, which would hang callers that bound their wait (a flash purchase's publish). And a leader
 * change, what a broker failover is, is the known trigger of its OUT_OF_ORDER_SEQUENCE_NUMBER failures, after
 * which the producer stays broken (tulios/kafkajs#598). docs/scale-out.md, Kafka.
 */
export async function createProducer(ctx: KafkaContext): Promise<Producer> {
  const producer = ctx.kafka.producer({ maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return producer;
}
