import { Prisma, type Tx } from "./prisma.ts";
import type { EventEnvelope, TopicEvents, TopicName } from "./events.ts";

// The one way events enter `outbox_events` (the relay, common/outbox-relay.ts, publishes them): `enqueue` inside a
// Prisma transaction, `outboxInsertSql` inside a statement that must stay one statement. Both build the same
// INSERT, so how an envelope maps to the columns is written once, below.

/** Rows for the outbox from inside a statement: a SELECT of one jsonb column, each value a whole envelope of `topic`. */
export interface OutboxSource {
  topic: TopicName;
  envelopes: Prisma.Sql;
}

/**
 * The outbox INSERT as a SQL fragment, for a statement that writes a change and its events at once (a CTE whose
 * rows decide which events exist). An envelope's id, type and aggregate id (the Kafka key) fill their columns and
 * the envelope itself is the payload; the topic is stored without the deployment's prefix, which the relay adds.
 * Rows get ids in source order, each source's in its SELECT's order.
 */
export function outboxInsertSql(...sources: OutboxSource[]): Prisma.Sql {
  const rows = sources.map(({ topic, envelopes }) => Prisma.sql`SELECT ${topic}::text AS topic, e FROM (${envelopes}) AS s(e)`);
  return Prisma.sql`INSERT INTO outbox_events (event_id, topic, key, type, payload)
    SELECT (e->>'id')::uuid, topic, e->>'aggregateId', e->>'type', e FROM (${Prisma.join(rows, " UNION ALL ")}) AS envelopes`;
}

/** A SELECT of events made in this process, one jsonb envelope per row, in order: an OutboxSource's `envelopes`. */
export function envelopesSql(events: readonly EventEnvelope[]): Prisma.Sql {
  return Prisma.sql`SELECT jsonb_array_elements(${JSON.stringify(events)}::jsonb)`;
}

/**
 * Writes events into the outbox inside the caller's transaction, so they exist if and only if the change they
 * describe was committed. The relay publishes them to Kafka afterwards.
 */
export async function enqueue<T extends TopicName>(tx: Tx, topic: T, ...events: TopicEvents[T][]): Promise<void> {
  if (events.length === 0) return;
  await tx.$executeRaw(outboxInsertSql({ topic, envelopes: envelopesSql(events) }));
}
