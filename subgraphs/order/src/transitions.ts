import type { PrismaClient, Tx } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import type { OrderStatusName } from "../../../common/events.ts";
import { createEvent, type OrderEvent } from "../../../common/events.ts";
import { enqueue } from "../../../common/outbox.ts";
import { journalStockMove, type StockMove } from "./stock-moves.ts";
import { toSnapshot } from "./orders.ts";
import { withItems, type OrderRecord } from "../../../common/orders/order-record.ts";
import type { Reservations } from "./reservations.ts";

/** Interactive transactions wait this long for a pooled connection and may run this long in total. */
export const TX_OPTIONS = { maxWait: 10_000, timeout: 10_000 } as const;

export interface TransitionSpec {
  from: readonly OrderStatusName[];
  to: OrderStatusName;
  cancelReason?: string;
  /** What the change does to the order's stock rows (and, after commit, to its Redis reservation). */
  stock: Exclude<StockMove, "reserve"> | null;
  /** Only when the reservation ended at or before this instant (expiry). */
  expiredBy?: Date;
  /** Only while the reservation has not ended at this instant (payment, cancellation). */
  liveAt?: Date;
  /**
   * What the order's payment in flight (PENDING, or SUCCEEDED and not yet applied; see `paymentHold`) does to
   * this edge: `waits` (expiry) is not taken before the payment's `holds_until` has passed at `expiredBy`;
   * `blocks` (buyer cancel) is not taken at all; `extends` (payment success) also meets `liveAt` until then.
   */
  inFlightPayment?: "waits" | "blocks" | "extends";
}

/** The order's state machine; every edge is a conditional update. */
export const Transition = {
  cancelByBuyer: (now: Date): TransitionSpec => ({
    from: ["RESERVED"],
    to: "CANCELLED",
    cancelReason: "cancelled_by_buyer",
    stock: "release",
    liveAt: now,
    inFlightPayment: "blocks",
  }),
  declinePayment: (): TransitionSpec => ({ from: ["RESERVED"], to: "CANCELLED", cancelReason: "payment_declined", stock: "release" }),
  expire: (now: Date): TransitionSpec => ({ from: ["RESERVED"], to: "EXPIRED", stock: "release", expiredBy: now, inFlightPayment: "waits" }),
  markPaid: (now: Date): TransitionSpec => ({ from: ["RESERVED"], to: "PAID", stock: null, liveAt: now, inFlightPayment: "extends" }),
  confirm: (): TransitionSpec => ({ from: ["PAID"], to: "CONFIRMED", stock: "commit" }),
};

export type TransitionResult =
  | { changed: true; order: OrderRecord }
  /** `order` is the current row (null when there is none); its status says why nothing changed. */
  | { changed: false; order: OrderRecord | null };

export const orderStatusChanged = (order: OrderRecord, previousStatus: OrderStatusName | null) =>
  createEvent<OrderEvent>("OrderStatusChanged", order.id, { order: toSnapshot(order), previousStatus });

/**
 * One edge of the state machine inside the caller's transaction: lock the row, check the expected status
 * (and time), update it, append its stock move to the journal and write OrderStatusChanged to the outbox.
 * The row lock makes two racing transitions (sweeper and payment, two sweepers) take turns; the loser sees
 * the winner's status and changes nothing, which is what makes every stock return happen exactly once.
 */
export async function applyTransition(tx: Tx, orderId: string, spec: TransitionSpec): Promise<TransitionResult> {
  const locked = await tx.$queryRaw<{ status: OrderStatusName; reserved_until: Date }[]>`
    SELECT status::text AS status, reserved_until FROM orders WHERE id = ${orderId}::uuid FOR UPDATE`;
  const current = locked[0];
  let allowed =
    current !== undefined &&
    spec.from.includes(current.status) &&
    (!spec.expiredBy || current.reserved_until.getTime() <= spec.expiredBy.getTime()) &&
    (!spec.liveAt || current.reserved_until.getTime() > spec.liveAt.getTime() || spec.inFlightPayment === "extends");
  if (allowed && current && spec.inFlightPayment) allowed = await paymentPermits(tx, orderId, current.reserved_until, spec);
  if (!allowed || !current) {
    return { changed: false, order: current ? await tx.order.findUnique({ where: { id: orderId }, include: withItems }) : null };
  }
  const order = await tx.order.update({
    where: { id: orderId },
    data: { status: spec.to, ...(spec.cancelReason ? { cancelReason: spec.cancelReason } : {}) },
    include: withItems,
  });
  await enqueue(tx, "order", orderStatusChanged(order, current.status));
  // A flash order's units are sale stock, not in the stock rows (the sale took them out when it was created);
  // its Redis settlement (settleReservation) puts them back into the sale, or regular stock once it ended.
  if (spec.stock && !order.flashSaleId) await journalStockMove(tx, order.id, order.items, spec.stock);
  return { changed: true, order };
}

/**
 * The payment's part in an edge, read under the order's row lock: payOrder creates the payment while holding
 * that lock, so an expiry or cancel either sees the payment or commits before it exists (and payOrder then
 * finds the order no longer RESERVED).
 */
async function paymentPermits(tx: Tx, orderId: string, reservedUntil: Date, spec: TransitionSpec): Promise<boolean> {
  const hold = await paymentHold(tx, orderId);
  if (spec.inFlightPayment === "blocks") return hold === null;
  if (spec.inFlightPayment === "waits") return hold === null || hold.getTime() <= (spec.expiredBy?.getTime() ?? Date.now());
  // "extends": within the reservation, or within the hold of the payment in flight.
  return (spec.liveAt?.getTime() ?? 0) < Math.max(reservedUntil.getTime(), hold?.getTime() ?? 0);
}

/**
 * Until when the order's payment holds it, or null when it holds nothing: only a payment still PENDING, or
 * SUCCEEDED but not yet applied to the order (the order is RESERVED, so it was not), may still capture money
 * the order has to keep. A row without `holds_until` (older than the column) holds until reservedUntil.
 */
export async function paymentHold(tx: Tx, orderId: string): Promise<Date | null> {
  const [row] = await tx.$queryRaw<{ holds_until: Date }[]>`
    SELECT COALESCE(p.holds_until, o.reserved_until) AS holds_until FROM payments p JOIN orders o ON o.id = p.order_id
    WHERE p.order_id = ${orderId}::uuid AND p.status IN ('PENDING', 'SUCCEEDED')`;
  return row?.holds_until ?? null;
}

export interface TransitionsDeps {
  prisma: PrismaClient;
  reservations: Reservations;
  logger: Logger;
  /** Called after a commit that appended stock moves (the stock aggregator's nudge). */
  onStockMoved?: () => void;
}

export function createTransitions({ prisma, reservations, logger, onStockMoved }: TransitionsDeps) {
  const log = logger.child({ component: "order-transitions" });

  /**
   * Brings the Redis reservation in line with the order's committed status (idempotent: every script moves the
   * units once). Also run from the change's event (reservation-settlement.ts), and by the expiry sweeper for every
   * reservation still indexed (for PAID, confirming the order takes its units off the buyer's count if the unhold did not).
   */
  async function settle(orderId: string, status: OrderStatusName): Promise<void> {
    if (status === "CANCELLED" || status === "EXPIRED") await reservations.release(orderId);
    else if (status === "CONFIRMED") await reservations.confirm(orderId);
    else if (status === "PAID") await reservations.unhold(orderId);
  }

  /** `settle`, where a failure is only logged (the change's event settles it again: reservation-settlement.ts). */
  async function settleReservation(orderId: string, status: OrderStatusName): Promise<void> {
    try {
      await settle(orderId, status);
    } catch (error) {
      log.warn({ err: error, orderId, status }, "reservation not settled in Redis; the change's event will settle it");
    }
  }

  /**
   * Runs `work` in one transaction; every transition it applies through `apply` has its Redis side settled
   * after the commit (never before: a rolled-back transition must not have moved Redis stock).
   */
  async function inTransaction<T>(
    work: (t: { tx: Tx; apply: (orderId: string, spec: TransitionSpec) => Promise<TransitionResult> }) => Promise<T>,
  ): Promise<T> {
    const changed: OrderRecord[] = [];
    const result = await prisma.$transaction(async (tx) => {
      changed.length = 0; // a retried callback starts over
      const apply = async (orderId: string, spec: TransitionSpec) => {
        const r = await applyTransition(tx, orderId, spec);
        // Already there (a redelivered event, a retried request): settled again, since the first time may have
        // committed and then lost its Redis step (its process killed, its connection cut after the commit).
        if (r.changed || r.order?.status === spec.to) changed.push(r.order!);
        return r;
      };
      return work({ tx, apply });
    }, TX_OPTIONS);
    if (changed.length > 0) onStockMoved?.();
    for (const order of changed) await settleReservation(order.id, order.status);
    return result;
  }

  return {
    inTransaction,
    settle,
    settleReservation,
    run: (orderId: string, spec: TransitionSpec) => inTransaction(({ apply }) => apply(orderId, spec)),
  };
}

export type Transitions = ReturnType<typeof createTransitions>;
