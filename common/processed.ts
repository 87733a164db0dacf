// processed_events: which events each consumer has applied. Consumers of every subgraph use it (the order
// saga and mail, flash-sale's drains), so each effect is applied once per consumer however often it is delivered.

import type { PrismaClient, Tx } from "./prisma.ts";

type Db = PrismaClient | Tx;

/**
 * Records that `consumer` applied event `eventId`, in the transaction of the effect itself. False when it was
 * recorded before (a redelivery): the caller then applies nothing. A concurrent duplicate waits on the unique
 * key and gets false once the first commits, so an effect is applied at most once per consumer. Effects that
 * are not in PostgreSQL (a mail, a provider call) record it on its own, after the effect.
 */
export async function markProcessed(tx: Db, consumer: string, eventId: string): Promise<boolean> {
  const inserted = await tx.$executeRaw`
    INSERT INTO processed_events (consumer, event_id) VALUES (${consumer}, ${eventId}::uuid) ON CONFLICT DO NOTHING`;
  return inserted === 1;
}

/** A cheap check before work that cannot run inside a transaction (a provider call, an e-mail). */
export async function wasProcessed(prisma: PrismaClient, consumer: string, eventId: string): Promise<boolean> {
  return (await processedAmong(prisma, consumer, [eventId])).size > 0;
}

/** Which of `eventIds` `consumer` has already recorded (one query for a batch of events). */
export async function processedAmong(prisma: Db, consumer: string, eventIds: string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  // One key lookup per id, whatever the statistics say. As `event_id = ANY($ids)`, a batch of 200 or more ids
  // was planned as a sequential scan of the whole table (comparing every row with every id) while the table
  // had no statistics (new, truncated, or autovacuum behind): in a sale, every batch read every processed
  // event so far. A LATERAL subquery with LIMIT cannot be turned into a scan-and-hash join.
  const rows = await prisma.$queryRaw<{ event_id: string }[]>`
    SELECT ids.id::text AS event_id FROM unnest(${eventIds}::uuid[]) AS ids(id)
    CROSS JOIN LATERAL (SELECT 1 FROM processed_events p WHERE p.event_id = ids.id AND p.consumer = ${consumer} LIMIT 1) AS found`;
  return new Set(rows.map((r) => r.event_id));
}

/** Records a batch of events as applied by `consumer` (after effects that are not in PostgreSQL). */
export async function markAllProcessed(prisma: PrismaClient, consumer: string, eventIds: string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await prisma.$executeRaw`
    INSERT INTO processed_events (consumer, event_id) SELECT ${consumer}, unnest(${eventIds}::uuid[]) ON CONFLICT DO NOTHING`;
}
