import type pg from "pg";
import type { KafkaContext } from "../../common/kafka/client.ts";
import { GROUPS } from "./quiescence.ts";
import { PHASE_EVENTS, RECORDED, unapplied } from "./invariants.ts";

// When "no event lost" fails, where the missing events are: in Kafka (then a consumer passed over them: at which
// partition and offset, and where each group's committed offset for it stands) or not (then the publish was lost).

/** The events of this phase a recording consumer has no processed row for (the invariant's query, with the ids). */
const MISSING_SQL = `WITH ${PHASE_EVENTS}
  ${RECORDED.map(([, consumer, where]) => `SELECT '${consumer}' AS consumer, event_id::text, topic ${unapplied(consumer, where)}`).join("\n  UNION ALL\n  ")}
  LIMIT 20`;

/** Reads `topic` from its start to its current end and answers where each of `ids` is (by the `event-id` header). */
async function locate(kafka: KafkaContext, topic: string, ids: Set<string>, timeoutMs = 60_000) {
  const found = new Map<string, { partition: number; offset: string }>();
  const admin = kafka.kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  await admin.disconnect();
  const left = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
  const consumer = kafka.kafka.consumer({ groupId: `lost-events-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 500 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            const id = message.headers?.["event-id"]?.toString();
            if (id && ids.has(id)) found.set(id, { partition: batch.partition, offset: message.offset });
          }
          if (BigInt(batch.lastOffset()) + 1n >= (ends.get(batch.partition) ?? 0n)) left.delete(batch.partition);
          if (left.size === 0 || found.size === ids.size) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return found;
}

/** One line per missing event: consumer, id, and its place in Kafka with the consumer's committed offset there. */
export async function lostEventsDetail(db: pg.Client, kafka: KafkaContext, since: Date): Promise<string> {
  const { rows } = await db.query<{ consumer: string; event_id: string; topic: string }>(MISSING_SQL, [since]);
  if (rows.length === 0) return "";
  const admin = kafka.kafka.admin();
  await admin.connect();
  const committed = new Map<string, Map<number, string>>();
  try {
    for (const [group, topic] of GROUPS) {
      const [offsets] = await admin.fetchOffsets({ groupId: kafka.topic(group), topics: [kafka.topic(topic)] });
      committed.set(group, new Map(offsets!.partitions.map((p) => [p.partition, p.offset])));
    }
  } finally {
    await admin.disconnect();
  }
  const lines: string[] = [];
  for (const topic of new Set(rows.map((r) => r.topic))) {
    const here = rows.filter((r) => r.topic === topic);
    const found = await locate(kafka, kafka.topic(topic), new Set(here.map((r) => r.event_id))).catch(() => new Map());
    for (const r of here) {
      const at = found.get(r.event_id);
      lines.push(
        at
          ? `${r.consumer} ${r.event_id.slice(0, 8)}: ${topic}[${at.partition}] offset ${at.offset}, group committed ${committed.get(r.consumer)?.get(at.partition) ?? "?"}`
          : `${r.consumer} ${r.event_id.slice(0, 8)}: not in ${topic}`,
      );
    }
  }
  return `; missing: ${lines.join("; ")}`;
}
