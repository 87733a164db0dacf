import type pg from "pg";
import type { KafkaContext } from "../../common/kafka/client.ts";

// Quiescence: the platform has finished what the load and the fault started. Invariants are read only then;
// a platform that never gets there within the bound fails the phase with what is still outstanding.

/** The consumer groups whose work the invariants read (group name before the prefix, topic). */
export const GROUPS = [
  ["payment-worker", "payment"],
  ["order-payments", "payment"],
  ["order-fulfilment", "order"],
  ["notifications", "order"],
  ["flash-order-writer", "flash-order"],
] as const;

export async function consumerLag(kafka: KafkaContext): Promise<Record<string, number>> {
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    const lag: Record<string, number> = {};
    for (const [group, topic] of GROUPS) {
      const name = kafka.topic(topic);
      const ends = await admin.fetchTopicOffsets(name);
      const [committed] = await admin.fetchOffsets({ groupId: kafka.topic(group), topics: [name] });
      const at = new Map(committed!.partitions.map((p) => [p.partition, Number(p.offset)]));
      lag[group] = ends.reduce((sum, end) => sum + Math.max(0, Number(end.high) - Math.max(at.get(end.partition) ?? -1, 0)), 0);
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}

export interface Outstanding {
  unpublishedOutbox: number;
  pendingPayments: number;
  paidOrders: number;
  lapsedReserved: number;
  /** Stock journal rows the stock aggregator has not folded into the stock rows yet. */
  pendingStockMoves: number;
  lag: Record<string, number>;
}

async function outstanding(db: pg.Client, kafka: KafkaContext): Promise<Outstanding> {
  const { rows } = await db.query<Record<string, string>>(`SELECT
    (SELECT count(*) FROM outbox_events WHERE published_at IS NULL) AS outbox,
    (SELECT count(*) FROM payments WHERE status = 'PENDING') AS payments,
    (SELECT count(*) FROM orders WHERE status = 'PAID') AS paid,
    (SELECT count(*) FROM orders WHERE status = 'RESERVED' AND reserved_until < now() - interval '5 seconds') AS lapsed,
    (SELECT count(*) FROM stock_moves) AS moves`);
  const row = rows[0]!;
  return {
    unpublishedOutbox: Number(row.outbox),
    pendingPayments: Number(row.payments),
    paidOrders: Number(row.paid),
    lapsedReserved: Number(row.lapsed),
    pendingStockMoves: Number(row.moves),
    lag: await consumerLag(kafka).catch(() => ({ unreachable: 1 })),
  };
}

// Committed consumer lag is reported, not waited for: consumers commit what they handled at most once a second
// (common/kafka/batches.ts), and a group whose member is restarting commits nothing meanwhile. What the groups
// applied is checked instead through their processed sets (invariants.ts, "no event lost").
const settled = (o: Outstanding) =>
  o.unpublishedOutbox === 0 && o.pendingPayments === 0 && o.paidOrders === 0 && o.lapsedReserved === 0 && o.pendingStockMoves === 0;

/** Waits until nothing is outstanding (checked twice in a row, a second apart), or `timeoutMs`; returns what was left. */
export async function waitForQuiescence(db: pg.Client, kafka: KafkaContext, timeoutMs: number) {
  const started = Date.now();
  let last: Outstanding | null = null;
  let calm = 0;
  while (Date.now() - started < timeoutMs) {
    last = await outstanding(db, kafka).catch(() => null);
    calm = last && settled(last) ? calm + 1 : 0;
    if (calm >= 2) return { quiet: true, ms: Date.now() - started, left: last! };
    await new Promise((r) => setTimeout(r, 1_000));
  }
  return { quiet: false, ms: Date.now() - started, left: last };
}
