// What `npm run dlq` does (scripts/dlq.ts): read a dead-letter topic, and send its letters back where they came from.

import type { Consumer, KafkaMessage, Producer } from "kafkajs";
import { randomUUID } from "node:crypto";
import { dlqTopic } from "../events.ts";
import type { KafkaContext } from "./client.ts";
import { originalHeaders, readDeadLetter, type DeadLetter } from "./dead-letter.ts";

/**
 * The consumer group (under the topic prefix) whose committed offset on a DLQ is how far `replay` got: a second
 * replay starts there, so a letter is sent back once.
 */
export const REPLAY_GROUP = "dlq-replay";

export interface DeadLetterListing {
  /** The DLQ's full name. */
  topic: string;
  count: number;
  letters: (DeadLetter & { replayed: boolean })[];
}

/** Where each partition of `dlq` starts (the group's committed offset, else the earliest) and ends (now). */
async function ranges(ctx: KafkaContext, dlq: string, groupId: string) {
  const admin = ctx.kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(dlq);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [dlq] });
    return ends.map(({ partition, low, high }) => {
      const done = committed?.partitions.find((p) => p.partition === partition)?.offset ?? "-1";
      const start = BigInt(done) >= 0n ? (BigInt(done) > BigInt(low) ? BigInt(done) : BigInt(low)) : BigInt(low);
      return { partition, low: BigInt(low), start, end: BigInt(high) };
    });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads `dlq` with consumer group `groupId` from where that group stands up to the end as it was when called,
 * handing each partition's messages to `onMessages` in order (then the group's offset may be committed).
 */
async function readToEnd(
  ctx: KafkaContext,
  dlq: string,
  groupId: string,
  onMessages: (partition: number, messages: KafkaMessage[], consumer: Consumer) => Promise<void>,
  timeoutMs = 30_000,
): Promise<void> {
  const pending = new Map((await ranges(ctx, dlq, groupId)).filter((r) => r.start < r.end).map((r) => [r.partition, r.end]));
  if (pending.size === 0) return;
  const consumer = ctx.kafka.consumer({ groupId, maxWaitTimeInMs: 500, allowAutoTopicCreation: false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [dlq], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`could not read ${dlq} to its end within ${timeoutMs} ms`)), timeoutMs);
      const finish = (error?: unknown) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      };
      consumer.on(consumer.events.CRASH, (event) => finish(event.payload.error));
      void consumer
        .run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: async ({ batch, resolveOffset }) => {
            const end = pending.get(batch.partition);
            if (end === undefined) return;
            const messages = batch.messages.filter((m) => BigInt(m.offset) < end);
            if (messages.length > 0) await onMessages(batch.partition, messages, consumer);
            for (const m of messages) resolveOffset(m.offset);
            if (BigInt(batch.lastOffset()) + 1n >= end) pending.delete(batch.partition);
            if (pending.size === 0) finish();
          },
        })
        .catch(finish);
    });
  } finally {
    await consumer.disconnect();
  }
}

/** The dead letters of `topic` (a platform topic name such as `payment`, or its `.dlq`), marked if already replayed. */
export async function listDeadLetters(ctx: KafkaContext, topic: string): Promise<DeadLetterListing> {
  const dlq = ctx.topic(dlqTopic(topic.replace(/\.dlq$/, "")));
  const replayedUpTo = new Map((await ranges(ctx, dlq, ctx.topic(REPLAY_GROUP))).map((r) => [r.partition, r.start]));
  const readerGroup = ctx.topic(`dlq-list-${randomUUID()}`);
  const letters: DeadLetterListing["letters"] = [];
  await readToEnd(ctx, dlq, readerGroup, async (partition, messages) => {
    for (const m of messages)
      letters.push({ ...readDeadLetter(partition, m, dlq), replayed: BigInt(m.offset) < (replayedUpTo.get(partition) ?? 0n) });
  });
  const admin = ctx.kafka.admin();
  await admin.connect();
  await admin.deleteGroups([readerGroup]).catch(() => undefined); // it never committed; this only tidies the broker
  await admin.disconnect();
  return { topic: dlq, count: letters.length, letters };
}

/**
 * Sends every letter of `topic`'s DLQ that no earlier replay sent back to the topic it came from, with its original
 * key (so the same partition, in order), value and headers, and commits the replay group's offset after each
 * partition's batch is acknowledged. Letters of kind `malformed` are passed over: they are not events, and no
 * consumer could apply them. Consumers are idempotent (they record each event id with its effect), so an event
 * that was in fact applied before, or a batch sent again after a crash between the send and the commit, changes
 * nothing. Returns what it sent.
 */
export async function replayDeadLetters(
  ctx: KafkaContext,
  producer: Producer,
  topic: string,
): Promise<{ replayed: DeadLetter[]; skipped: DeadLetter[] }> {
  const base = topic.replace(/\.dlq$/, "");
  const dlq = ctx.topic(dlqTopic(base));
  const replayed: DeadLetter[] = [];
  const skipped: DeadLetter[] = [];
  await readToEnd(ctx, dlq, ctx.topic(REPLAY_GROUP), async (partition, messages, consumer) => {
    const letters = messages.map((m) => ({ m, letter: readDeadLetter(partition, m, dlq) }));
    const toSend = letters.filter(({ letter }) => letter.kind !== "malformed");
    if (toSend.length > 0) {
      await producer.send({
        topic: ctx.topic(base),
        acks: -1,
        messages: toSend.map(({ m }) => ({
          key: m.key,
          value: m.value,
          headers: { ...originalHeaders(m.headers), "dlq-replayed-from": `${dlq}/${partition}/${m.offset}` },
        })),
      });
    }
    await consumer.commitOffsets([{ topic: dlq, partition, offset: (BigInt(messages.at(-1)!.offset) + 1n).toString() }]);
    for (const { letter } of letters) (letter.kind === "malformed" ? skipped : replayed).push(letter);
  });
  return { replayed, skipped };
}
