import type { PrismaClient, Tx } from "../../../common/prisma.ts";

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
  const rows = await prisma.$queryRaw<unknown[]>`
    SELECT 1 FROM processed_events WHERE consumer = ${consumer} AND event_id = ${eventId}::uuid`;
  return rows.length > 0;
}
