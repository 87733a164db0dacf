import type { KafkaMessage, Producer } from "kafkajs";
import type { Logger } from "../logger.ts";
import { isEventEnvelope, type EventEnvelope, type TopicEvents, type TopicName } from "../events.ts";
import type { KafkaContext } from "./client.ts";
import { classifyFailure, DEFAULT_RETRY_POLICY, type RetryPolicy } from "./retry.ts";
import { createPartitionRetry } from "./partition-retry.ts";
import { sendDeadLetter, type DeadLetterCause } from "./dead-letter.ts";
import { createConsumer, endOffsets, HEARTBEAT_INTERVAL_MS, runBatches } from "./batches.ts";

export interface ConsumerOptions<T extends TopicName> {
  ctx: KafkaContext;
  producer: Producer;
  groupId: string;
  topics: T[];
  logger: Logger;
  handle: (event: TopicEvents[T], meta: { topic: T; partition: number; offset: string }) => Promise<void>;
  /**
   * Optional: handles the well-formed events of one fetched batch (one partition, in order) at once, so
   * per-event database round trips become per-batch ones. If it fails transiently the batch waits and is handled
   * again; if it fails otherwise, each event of the batch goes through `handle`, so one poison event is
   * dead-lettered alone and `handle` stays the single source of truth.
   */
  handleBatch?: (events: TopicEvents[T][]) => Promise<void>;
  /** Backoff and attempts (default: the context's `consumerRetry`, from KAFKA_CONSUMER_RETRY_*, over DEFAULT_RETRY_POLICY). */
  retry?: Partial<RetryPolicy>;
  /** Start from the earliest offset when the group is new (default true). */
  fromBeginning?: boolean;
  /**
   * Start at the current end of every partition and return only once the group has joined (default false): for
   * test stacks that each use a group of their own and must not replay the topic's history.
   */
  fromNow?: boolean;
  /** Partitions processed in parallel (default 3). */
  concurrency?: number;
  /**
   * After a fetch that brought events, wait this long before the next one: under load, one large batch per
   * interval instead of one small fetch per handful of events, for at most this much added delivery latency.
   * An idle consumer still waits for events on the broker (one request a second). Default 0 (no wait), for
   * consumers whose latency is seen.
   */
  lingerMs?: number;
}

/**
 * Runs `work` while sending the group heartbeats kafkajs would send between batches, so a handler that takes
 * longer than the session timeout (a query waiting on an unreachable database) does not get the member evicted.
 */
async function keepingAlive<R>(heartbeat: () => Promise<void>, work: () => Promise<R>): Promise<R> {
  const timer = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_INTERVAL_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

const errorText = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message.trim()}` : String(error));

/** The envelope in a message, or why there is none. */
function decode(message: KafkaMessage): EventEnvelope | string {
  let event: unknown;
  try {
    event = JSON.parse(message.value?.toString("utf8") ?? "");
  } catch {
    return "malformed JSON";
  }
  return isEventEnvelope(event) ? event : "not an event envelope";
}

/**
 * Runs a consumer group whose handler must be idempotent (events are delivered at least once). A failure is
 * classified by `classifyFailure` (common/kafka/retry.ts):
 * - transient (the database, Redis or Kafka failing): the partition is paused and the event handled again after a
 *   capped exponential backoff, without limit; the other partitions keep flowing (`createPartitionRetry`);
 * - permanent, or a message that is not an event: sent to `<topic>.dlq` at once, with the original key, value and
 *   headers, the error and where it came from (`sendDeadLetter`), and the consumer moves on;
 * - unknown: like transient for `unknownAttempts` attempts, then dead-lettered.
 * `close()` cancels any backoff at once; the event it was waiting for is not committed, so it is redelivered.
 */
export async function runConsumer<T extends TopicName>(options: ConsumerOptions<T>): Promise<{ close: () => Promise<void> }> {
  const { ctx, producer, groupId, topics, logger, handle, handleBatch } = options;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...ctx.consumerRetry, ...options.retry };
  const byFullName = new Map<string, T>(topics.map((t) => [ctx.topic(t), t]));
  const consumer = createConsumer(ctx, groupId);
  const log = logger.child({ consumer: groupId });
  const retry = createPartitionRetry({ consumer, group: groupId, policy, log });

  /** Dead-letters the message; false (and a backoff) if Kafka would not take the letter. */
  const deadLetter = async (topic: string, partition: number, message: KafkaMessage, cause: DeadLetterCause): Promise<boolean> => {
    log.warn({ topic, partition, offset: message.offset, ...cause }, "sending event to dead-letter topic");
    try {
      await sendDeadLetter(producer, { topic, partition, message }, cause, groupId);
      return true;
    } catch (error) {
      retry.backOff(topic, partition, message.offset, "transient", error);
      return false;
    }
  };

  /** Handles one message; false when it is waiting for a retry (its offset must stay unresolved). */
  const handleOne = async (
    topic: string,
    partition: number,
    message: KafkaMessage,
    event: EventEnvelope | string,
    heartbeat: () => Promise<void>,
  ): Promise<boolean> => {
    let cause: DeadLetterCause;
    if (typeof event === "string") cause = { kind: "malformed", error: event, attempts: 0 };
    else {
      try {
        await keepingAlive(heartbeat, () => handle(event as TopicEvents[T], { topic: byFullName.get(topic)!, partition, offset: message.offset }));
        retry.settled(topic, partition);
        return true;
      } catch (error) {
        const kind = classifyFailure(error);
        const unknownFailures = kind === "unknown" ? retry.unknownFailures(topic, partition, message.offset) + 1 : 0;
        if (kind === "transient" || (kind === "unknown" && unknownFailures < policy.unknownAttempts)) {
          retry.backOff(topic, partition, message.offset, kind, error);
          return false;
        }
        cause = { kind, error: errorText(error), attempts: Math.max(unknownFailures, 1) };
      }
    }
    if (!(await deadLetter(topic, partition, message, cause))) return false;
    retry.settled(topic, partition);
    return true;
  };

  let offsets: { topic: string; partition: number; offset: string }[] = [];
  if (options.fromNow) offsets = await endOffsets(ctx, [...byFullName.keys()]);
  await consumer.connect();
  await consumer.subscribe({ topics: [...byFullName.keys()], fromBeginning: options.fromNow ? false : (options.fromBeginning ?? true) });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  const closeBatches = await runBatches(consumer, {
    log,
    startAt: offsets,
    concurrency: options.concurrency ?? 3,
    lingerMs: options.lingerMs,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const { topic, partition } = batch;
      const decoded = batch.messages.map((message) => ({ message, event: decode(message) }));
      if (handleBatch) {
        try {
          await keepingAlive(heartbeat, () =>
            handleBatch(decoded.flatMap(({ event }) => (typeof event === "string" ? [] : [event as TopicEvents[T]]))),
          );
          for (const { message, event } of decoded) {
            if (typeof event === "string" && !(await deadLetter(topic, partition, message, { kind: "malformed", error: event, attempts: 0 }))) {
              return; // handled again after the backoff, harmlessly (handlers are idempotent)
            }
          }
          resolveOffset(batch.lastOffset());
          retry.settled(topic, partition);
          return;
        } catch (error) {
          if (classifyFailure(error) === "transient") {
            retry.backOff(topic, partition, batch.messages[0]!.offset, "transient", error);
            return;
          }
          log.warn({ err: error, events: decoded.length }, "batch handler failed; handling its events one by one");
        }
      }
      for (const { message, event } of decoded) {
        if (!isRunning() || isStale()) return;
        if (!(await handleOne(topic, partition, message, event, heartbeat))) return;
        resolveOffset(message.offset);
        await heartbeat();
      }
    },
  });
  if (options.fromNow) await joined;
  return {
    close: async () => {
      retry.close();
      await closeBatches();
    },
  };
}
