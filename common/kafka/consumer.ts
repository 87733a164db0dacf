import type { Consumer, EachBatchPayload, KafkaMessage, Producer } from "kafkajs";
import type { Logger } from "../logger.ts";
import { dlqTopic, isEventEnvelope, type EventEnvelope, type TopicEvents, type TopicName } from "../events.ts";
import type { KafkaContext } from "./client.ts";
import { isRetriable } from "./retry.ts";

export interface ConsumerOptions<T extends TopicName> {
  ctx: KafkaContext;
  producer: Producer;
  groupId: string;
  topics: T[];
  logger: Logger;
  handle: (event: TopicEvents[T], meta: { topic: T; partition: number; offset: string }) => Promise<void>;
  /**
   * Optional: handles the well-formed events of one fetched batch (one partition, in order) at once, so
   * per-event database round trips become per-batch ones. If it throws, each event of the batch goes
   * through `handle` with the usual retries and dead-lettering, so `handle` stays the single source of truth.
   */
  handleBatch?: (events: TopicEvents[T][]) => Promise<void>;
  /** Attempts before a failing event goes to the dead-letter topic (default 5). */
  maxAttempts?: number;
  /** First retry delay in ms, doubled each attempt (default 100). */
  backoffMs?: number;
  /** Start from the earliest offset when the group is new (default true). */
  fromBeginning?: boolean;
  /** Partitions processed in parallel (default 3). */
  concurrency?: number;
  /**
   * After a fetch that brought events, wait this long before the next one: under load, one large batch per
   * interval instead of one small fetch per handful of events, for at most this much added delivery latency.
   * An idle consumer still waits for events on the broker (one request a second). Default 0 (no wait), for
   * consumers whose latency is seen.
   */
  lingerMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * A consumer of one of the platform's groups. An idle fetch waits at most 1 s on the broker (kafkajs's default
 * is 5 s): one request a second while there is nothing to read, and `disconnect`, which waits out the fetch in
 * flight, returns within a second.
 */
export function createConsumer(ctx: KafkaContext, groupId: string): Consumer {
  return ctx.kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 1_000, allowAutoTopicCreation: false });
}

/**
 * Consumed offsets are committed at most this often (kafkajs would commit every partition's batch, each
 * its own request: hundreds a second under load). Handlers are idempotent, so a crash only means up to
 * this much is delivered again.
 */
const COMMIT_INTERVAL_MS = 1_000;

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs a consumer group whose handler must be idempotent (events are delivered at least once).
 * Retriable failures (`isRetriable`) are retried with exponential backoff; a malformed event, one whose error
 * is not retriable or one that keeps failing is sent to `<topic>.dlq` with the error, and the consumer moves on.
 */
export async function runConsumer<T extends TopicName>(options: ConsumerOptions<T>): Promise<{ close: () => Promise<void> }> {
  const { ctx, producer, groupId, topics, logger, handle } = options;
  const maxAttempts = options.maxAttempts ?? 5;
  const backoffMs = options.backoffMs ?? 100;
  const sleep = options.sleep ?? realSleep;
  const byFullName = new Map<string, T>(topics.map((t) => [ctx.topic(t), t]));
  const consumer = createConsumer(ctx, groupId);
  const log = logger.child({ consumer: groupId });

  const deadLetter = async (topic: string, message: { key: Buffer | null; value: Buffer | null }, reason: string) => {
    log.warn({ topic, reason }, "sending event to dead-letter topic");
    await producer.send({
      topic: dlqTopic(topic),
      acks: -1,
      messages: [{ key: message.key, value: message.value, headers: { "dlq-reason": reason.slice(0, 500), "dlq-group": groupId } }],
    });
  };

  /** The envelope in a message, or why there is none. */
  const decode = (message: KafkaMessage): EventEnvelope | string => {
    let event: unknown;
    try {
      event = JSON.parse(message.value?.toString("utf8") ?? "");
    } catch {
      return "malformed JSON";
    }
    return isEventEnvelope(event) ? event : "not an event envelope";
  };

  const handleOne = async (topic: string, partition: number, message: KafkaMessage, event: EventEnvelope | string) => {
    if (typeof event === "string") return deadLetter(topic, message, event);
    for (let attempt = 1; ; attempt++) {
      try {
        await handle(event as TopicEvents[T], { topic: byFullName.get(topic)!, partition, offset: message.offset });
        return;
      } catch (error) {
        const permanent = !isRetriable(error);
        if (permanent || attempt >= maxAttempts) {
          return deadLetter(topic, message, `${permanent ? "permanent" : `failed ${attempt} times`}: ${String(error)}`);
        }
        log.warn({ err: error, attempt, eventId: event.id }, "event handler failed; retrying");
        await sleep(backoffMs * 2 ** (attempt - 1));
      }
    }
  };

  await consumer.connect();
  await consumer.subscribe({ topics: [...byFullName.keys()], fromBeginning: options.fromBeginning ?? true });
  const handleBatch = options.handleBatch;
  const close = await runBatches(consumer, {
    concurrency: options.concurrency ?? 3,
    lingerMs: options.lingerMs,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const decoded = batch.messages.map((message) => ({ message, event: decode(message) }));
      if (handleBatch) {
        try {
          await handleBatch(decoded.flatMap(({ event }) => (typeof event === "string" ? [] : [event as TopicEvents[T]])));
          for (const { message, event } of decoded) if (typeof event === "string") await deadLetter(batch.topic, message, event);
          resolveOffset(batch.lastOffset());
          return;
        } catch (error) {
          log.warn({ err: error, events: decoded.length }, "batch handler failed; handling its events one by one");
        }
      }
      for (const { message, event } of decoded) {
        if (!isRunning() || isStale()) return;
        await handleOne(batch.topic, batch.partition, message, event);
        resolveOffset(message.offset);
        await heartbeat();
      }
    },
  });
  return { close };
}

/**
 * `consumer.run` for `eachBatch` handlers that resolve offsets as they finish messages.
 * - Commits: instead of kafkajs's commit after every partition's batch (one request each), resolved offsets
 *   are committed at most every COMMIT_INTERVAL_MS, at the end of the batch that was running when the
 *   consumer stopped, and by the returned close function before it disconnects: a clean stop hands over
 *   exactly where it was. `commit: false` for a group whose offsets are never read.
 * - Linger: kafkajs fetches again as soon as a fetch's batches are handled, and the broker answers as soon as
 *   anything arrived, so under a steady stream every fetch brings a handful of events. With `lingerMs`, the
 *   batches of a fetch that brought events wait out that interval (together, once per fetch) first.
 */
export async function runBatches(
  consumer: Consumer,
  options: { concurrency: number; lingerMs?: number; commit?: boolean; eachBatch: (payload: EachBatchPayload) => Promise<void> },
): Promise<() => Promise<void>> {
  const commit = options.commit ?? true;
  const lingerMs = options.lingerMs ?? 0;
  let lingerUntil = 0;
  const resolved = new Map<string, { topic: string; partition: number; offset: string }>();
  consumer.on(consumer.events.GROUP_JOIN, () => resolved.clear()); // a rebalance: our old partitions are not ours to commit
  await consumer.run({
    autoCommit: false,
    autoCommitInterval: COMMIT_INTERVAL_MS,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.concurrency,
    eachBatch: async (payload) => {
      const { topic, partition } = payload.batch;
      if (!payload.isRunning() || payload.isStale()) return;
      await options.eachBatch({
        ...payload,
        resolveOffset: (offset) => {
          payload.resolveOffset(offset);
          if (commit) resolved.set(`${topic}\u0000${partition}`, { topic, partition, offset: (BigInt(offset) + 1n).toString() });
        },
      });
      if (commit) await payload.commitOffsetsIfNecessary(payload.isRunning() ? undefined : payload.uncommittedOffsets());
      if (lingerMs > 0 && payload.batch.messages.length > 0 && payload.isRunning()) {
        const now = Date.now();
        if (lingerUntil <= now) lingerUntil = now + lingerMs; // the first batch of this fetch to finish
        await realSleep(lingerUntil - now);
      }
    },
  });
  return async () => {
    if (resolved.size > 0) await consumer.commitOffsets([...resolved.values()]).catch(() => undefined);
    await consumer.disconnect();
  };
}
