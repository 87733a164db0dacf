/**
 * The Kafka plumbing under the platform's consumers (consumer.ts) and event hubs (common/event-hub.ts): a consumer
 * of one group with the platform's timings, batches with throttled commits and linger, and where a group that
 * starts "now" begins.
 */
import type { Consumer, EachBatchPayload } from "kafkajs";
import type { KafkaContext } from "./client.ts";

export const HEARTBEAT_INTERVAL_MS = 1_000;

/**
 * A consumer of one of the platform's groups. An idle fetch waits at most 1 s on the broker (kafkajs's default
 * is 5 s): one request a second while there is nothing to read, and `disconnect`, which waits out the fetch in
 * flight, returns within a second.
 */
export function createConsumer(ctx: KafkaContext, groupId: string): Consumer {
  return ctx.kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: HEARTBEAT_INTERVAL_MS,
    maxWaitTimeInMs: 1_000,
    allowAutoTopicCreation: false,
  });
}

/**
 * Consumed offsets are committed at most this often (kafkajs would commit every partition's batch, each
 * its own request: hundreds a second under load). Handlers are idempotent, so a crash only means up to
 * this much is delivered again.
 */
const COMMIT_INTERVAL_MS = 1_000;

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Each partition's end offset (where a group that starts "now" begins). */
export async function endOffsets(ctx: KafkaContext, topics: string[]) {
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const perTopic = await Promise.all(topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) })));
    return perTopic.flatMap(({ topic, offsets }) => offsets.map(({ partition, offset }) => ({ topic, partition, offset })));
  } finally {
    await admin.disconnect();
  }
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
