/**
 * The Kafka plumbing under the platform's consumers (consumer.ts) and event hubs (common/event-hub.ts): a consumer
 * of one group with the platform's timings, batches with throttled commits and linger, and where a group that
 * starts "now" begins.
 */
import type { Consumer, EachBatchPayload } from "kafkajs";
import type { KafkaContext } from "./client.ts";
import type { Logger } from "../logger.ts";

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

/** How long a consumer that kafkajs gave up on waits before it is started again (runBatches). */
const RESTART_AFTER_MS = 1_000;

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
  options: {
    concurrency: number;
    lingerMs?: number;
    commit?: boolean;
    /** Where a batch refused for starting past the last handled offset is reported. */
    log?: Logger;
    /**
     * Where to start instead of the committed offsets: applied when the consumer first joins its group, before its
     * first fetch. (Seeking right after `run` fails when that first join crashed, as on a cluster whose offsets
     * topic is still loading: kafkajs has no consumer group until it runs again.)
     */
    startAt?: { topic: string; partition: number; offset: string }[];
    eachBatch: (payload: EachBatchPayload) => Promise<void>;
  },
): Promise<() => Promise<void>> {
  const commit = options.commit ?? true;
  const lingerMs = options.lingerMs ?? 0;
  let lingerUntil = 0;
  const keyOf = (topic: string, partition: number | string) => `${topic}\u0000${partition}`;
  const committed = new Map<string, string>();
  let assigned = new Set<string>();
  let closing = false;
  /**
   * Per partition, the offset after the last one handled in this session: a batch must start there or before. A
   * batch that starts later would skip events (none of the platform's topics has a gap: no compaction, no
   * transactions), so it is not handled and the partition is read again from there. Seen during a broker's failover,
   * when the partition's batches come from two leaders' fetchers and kafkajs restarts its session. It is also what
   * this member commits for the partition.
   */
  const next = new Map<string, { topic: string; partition: number; offset: bigint }>();
  /** The session (GROUP_JOIN) a batch started in: what a batch of an earlier session resolves is not ours to commit. */
  let session = 0;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    // A rebalance: our old partitions are not ours to commit.
    session++;
    if (session === 1) for (const { topic, partition, offset } of options.startAt ?? []) consumer.seek({ topic, partition, offset });
    committed.clear();
    next.clear();
    assigned = new Set(Object.entries(payload.memberAssignment).flatMap(([topic, partitions]) => partitions.map((p) => keyOf(topic, p))));
  });
  consumer.on(consumer.events.COMMIT_OFFSETS, ({ payload }) => {
    for (const { topic, partitions } of payload.topics)
      for (const { partition, offset } of partitions) committed.set(keyOf(topic, partition), offset);
  });
  /** Handled offsets of partitions still ours that the group has not committed yet. */
  const pending = () =>
    [...next.entries()]
      .filter(([key, o]) => assigned.has(key) && committed.get(key) !== o.offset.toString())
      .map(([, { topic, partition, offset }]) => ({ topic, partition, offset: offset.toString() }));

  const byTopic = (offsets: ReturnType<typeof pending>) =>
    [...new Set(offsets.map((o) => o.topic))].map((topic) => ({
      topic,
      partitions: offsets.filter((o) => o.topic === topic).map(({ partition, offset }) => ({ partition, offset })),
    }));

  // kafkajs treats a fetched partition whose messages all lie before the fetch offset as log compaction: it
  // resolves the fetch offset, so its next fetch starts one past it, and calls no handler. The platform's topics
  // are never compacted, so such a batch means a message was passed over (a broker answering oddly while it fails
  // over is the suspect). The partition is read again from that offset (a seek also resets kafkajs's resolved
  // offset there).
  consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
    if (payload.batchSize !== 0 || payload.firstOffset != null || closing) return;
    const { topic, partition, lastOffset } = payload;
    options.log?.warn({ topic, partition, offset: lastOffset }, "kafkajs skipped an offset it fetched no message at: reading it again");
    consumer.seek({ topic, partition, offset: lastOffset });
  });

  const runOptions = {
    autoCommit: false,
    autoCommitInterval: COMMIT_INTERVAL_MS,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: options.concurrency,
    eachBatch: async (payload: EachBatchPayload) => {
      const { topic, partition } = payload.batch;
      if (!payload.isRunning() || payload.isStale()) return;
      const key = keyOf(topic, partition);
      const started = session;
      const expected = next.get(key)?.offset;
      const first = payload.batch.messages[0];
      if (expected !== undefined && first && BigInt(first.offset) > expected) {
        options.log?.warn(
          { topic, partition, expected: expected.toString(), first: first.offset },
          "batch starts past the last handled offset: reading the partition again from there",
        );
        consumer.seek({ topic, partition, offset: expected.toString() });
        return;
      }
      await options.eachBatch({
        ...payload,
        resolveOffset: (offset) => {
          payload.resolveOffset(offset);
          if (started !== session) return;
          const after = BigInt(offset) + 1n;
          if (after > (next.get(key)?.offset ?? -1n)) next.set(key, { topic, partition, offset: after });
        },
      });
      // The flush below commits once a second; a batch that ends while the consumer stops commits at once. Only
      // what this member handled (`next`) is committed, never kafkajs's own resolved offsets: those are its fetch
      // positions, which it also moves past offsets it skipped (above).
      if (commit && !payload.isRunning()) await payload.commitOffsetsIfNecessary({ topics: byTopic(pending()) });
      if (lingerMs > 0 && payload.batch.messages.length > 0 && payload.isRunning()) {
        const now = Date.now();
        if (lingerUntil <= now) lingerUntil = now + lingerMs; // the first batch of this fetch to finish
        await realSleep(lingerUntil - now);
      }
    },
  };

  // kafkajs restarts a consumer that crashed on an error it calls retriable (a broker gone: its retries ran out),
  // and leaves one that crashed on any other (KafkaJSGroupCoordinatorNotFound while the coordinator moves) stopped
  // for good, still connected: its partitions go to the other members, or, when every instance crashed alike,
  // to nobody. Such a consumer is started again here, after a pause.
  let restart: NodeJS.Timeout | undefined;
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (payload.restart || closing) return;
    restart = setTimeout(() => {
      restart = undefined;
      if (!closing) void consumer.run(runOptions).catch(() => undefined);
    }, RESTART_AFTER_MS);
  });

  // What the handlers resolved is committed every COMMIT_INTERVAL_MS, busy or quiet (a group that goes quiet has
  // its lag reach 0 within a second).
  const flush = commit
    ? setInterval(() => {
        const offsets = pending();
        if (offsets.length > 0 && !closing) consumer.commitOffsets(offsets).catch(() => undefined);
      }, COMMIT_INTERVAL_MS)
    : undefined;
  flush?.unref();

  await consumer.run(runOptions);
  return async () => {
    closing = true;
    clearInterval(flush);
    clearTimeout(restart);
    const offsets = commit ? pending() : [];
    if (offsets.length > 0) await consumer.commitOffsets(offsets).catch(() => undefined);
    await consumer.disconnect();
  };
}
