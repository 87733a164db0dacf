import { randomUUID } from "node:crypto";
import type { Logger } from "./logger.ts";
import type { KafkaMessage } from "kafkajs";
import type { KafkaContext } from "./kafka/client.ts";
import { createConsumer, runBatches } from "./kafka/batches.ts";
import { isEventEnvelope, type TopicEvents, type TopicName } from "./events.ts";

type Listener<E> = (event: E) => void;

/**
 * Fans Kafka events out to this process's subscribers. Each process joins with a consumer group of its
 * own, so every instance sees every event and a change made anywhere reaches clients connected anywhere.
 * It starts at the end of each topic as it was before the hub returned: subscriptions are about what
 * happens from now on, and each subscription reads its starting value from the store itself. (kafkajs
 * would only resolve "the end" at its first fetch after joining, losing what was published in between.)
 */
export async function createEventHub<T extends TopicName>(options: { ctx: KafkaContext; topics: T[]; service: string; logger: Logger }) {
  const { ctx, topics, logger } = options;
  const listeners = new Map<string, Set<Listener<never>>>();
  const byFullName = new Map<string, T>(topics.map((t) => [ctx.topic(t), t]));
  const consumer = createConsumer(ctx, `${options.service}-subscriptions-${randomUUID()}`);
  const log = logger.child({ component: "event-hub" });
  const keyOf = (topic: string, aggregateId: string) => `${topic}\u0000${aggregateId}`;

  const deliver = (name: T, topic: string, message: KafkaMessage) => {
    // Events are keyed by aggregate id: most have no subscriber here and are skipped without parsing.
    if (message.key && !listeners.has(keyOf(name, message.key.toString("utf8")))) return;
    let event: unknown;
    try {
      event = JSON.parse(message.value?.toString("utf8") ?? "");
    } catch {
      return log.warn({ topic, offset: message.offset }, "skipping malformed event");
    }
    if (!isEventEnvelope(event)) return;
    const set = listeners.get(keyOf(name, event.aggregateId));
    if (set) for (const listener of set) (listener as Listener<unknown>)(event);
  };

  const ends = await endOffsets(ctx, [...byFullName.keys()]);
  await consumer.connect();
  await consumer.subscribe({ topics: [...byFullName.keys()], fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  const close = await runBatches(consumer, {
    log,
    startAt: ends,
    concurrency: 6,
    // The group is this process's alone and starts at the end every time: its offsets are never read.
    commit: false,
    // No linger: subscribers see events as soon as they arrive. Delivery is synchronous, so the batch is
    // delivered whole before anything else runs: one resolved offset per batch.
    eachBatch: async ({ batch, resolveOffset }) => {
      const name = byFullName.get(batch.topic)!;
      for (const message of batch.messages) deliver(name, batch.topic, message);
      if (batch.messages.length > 0) resolveOffset(batch.lastOffset());
    },
  });
  await joined;

  return {
    /** Calls `listener` for every event about `aggregateId` on `topic`; returns the function that stops it. */
    on<K extends T>(topic: K, aggregateId: string, listener: Listener<TopicEvents[K]>): () => void {
      const key = keyOf(topic, aggregateId);
      let set = listeners.get(key);
      if (!set) listeners.set(key, (set = new Set()));
      set.add(listener as Listener<never>);
      return () => {
        set!.delete(listener as Listener<never>);
        if (set!.size === 0) listeners.delete(key);
      };
    },
    close,
  };
}

export type EventHub<T extends TopicName = TopicName> = Awaited<ReturnType<typeof createEventHub<T>>>;

/** Each partition's end offset; retried for up to 30 s while a broker that just started elects leaders. */
async function endOffsets(ctx: KafkaContext, topics: string[]) {
  const admin = ctx.kafka.admin();
  await admin.connect();
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      try {
        const perTopic = await Promise.all(topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) })));
        return perTopic.flatMap(({ topic, offsets }) => offsets.map(({ partition, offset }) => ({ topic, partition, offset })));
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await admin.disconnect();
  }
}
