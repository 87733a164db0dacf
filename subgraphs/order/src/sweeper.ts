import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import type { OrderStatusName } from "../../../common/events.ts";
import type { Reservations } from "./reservations.ts";
import { Transition, type Transitions } from "./transitions.ts";
import { runPeriodically } from "../../../common/periodic.ts";

export interface SweeperDeps {
  prisma: PrismaClient;
  reservations: Reservations;
  transitions: Transitions;
  logger: Logger;
  now: () => number;
  /** A reservation with no order row is released only this long after its expiry (a placeOrder may still be committing). */
  orphanGraceMs: number;
  /** Reservations looked at per sweep (default 100). */
  batchSize?: number;
}

export interface SweepReport {
  /** Orders this sweep moved RESERVED -> EXPIRED (stock returned). */
  expired: number;
  /** Reservations whose order had already settled: the Redis side was (re)applied, idempotently. */
  repaired: number;
  /** Reservations without an order released after the grace period. */
  orphans: number;
}

/**
 * Expires unpaid orders and finishes any settlement a crash left half done. An order whose payment is in flight
 * is not expired before the payment's hold (`PAYMENT_HOLD_SECONDS` past reservedUntil) ends; the transition checks
 * that under the order's lock (transitions.ts, `inFlightPayment`). It reads the expiry index (the
 * authoritative list of live reservations) and asks PostgreSQL what each order is: RESERVED is expired by the
 * conditional transition (stock back exactly once, however many sweepers run), anything settled only gets its
 * idempotent Redis script again. A second pass over PostgreSQL expires RESERVED orders whose reservation Redis
 * no longer has (Redis lost its data), so an order never stays RESERVED forever.
 */
export function createSweeper(deps: SweeperDeps) {
  const { prisma, reservations, transitions } = deps;
  const log = deps.logger.child({ component: "expiry-sweeper" });
  const batchSize = deps.batchSize ?? 100;

  async function settle(orderId: string, status: OrderStatusName, at: Date, report: SweepReport): Promise<void> {
    if (status === "RESERVED") {
      const result = await transitions.run(orderId, Transition.expire(at));
      if (result.changed) report.expired++;
      else if (result.order && result.order.status !== "RESERVED") await settle(orderId, result.order.status, at, report);
      return;
    }
    if (status === "PAID") {
      // Payment went through but the commit did not run yet (fulfilment lagging or crashed): finish it.
      const result = await transitions.run(orderId, Transition.confirm());
      if (!result.changed) await transitions.settleReservation(orderId, "CONFIRMED");
    } else {
      await transitions.settleReservation(orderId, status);
    }
    report.repaired++;
  }

  async function sweepIndex(nowMs: number, report: SweepReport): Promise<void> {
    const due = await reservations.due(nowMs, batchSize);
    if (due.length === 0) return;
    const orders = await prisma.order.findMany({ where: { id: { in: due } }, select: { id: true, status: true } });
    const statusById = new Map(orders.map((o) => [o.id, o.status]));
    for (const orderId of due) {
      try {
        const status = statusById.get(orderId);
        if (status) await settle(orderId, status, new Date(nowMs), report);
        else await releaseOrphan(orderId, nowMs, report);
      } catch (error) {
        log.warn({ err: error, orderId }, "could not settle a due reservation; next sweep retries");
      }
    }
  }

  async function releaseOrphan(orderId: string, nowMs: number, report: SweepReport): Promise<void> {
    const reservation = await reservations.inspect(orderId);
    if (reservation && reservation.expiresAtMs + deps.orphanGraceMs > nowMs) return;
    // Forget it too: no order was ever committed, so the buyer's idempotency key must work again.
    const released = await reservations.release(orderId, { forget: true });
    if (released.ok) report.orphans++;
  }

  async function sweepDatabase(nowMs: number, report: SweepReport): Promise<void> {
    const lapsed = await prisma.order.findMany({
      where: {
        status: "RESERVED",
        reservedUntil: { lte: new Date(nowMs - deps.orphanGraceMs) },
        // Orders a payment in flight still holds are not due: left out so they cannot fill the batch.
        NOT: { payment: { is: { status: { in: ["PENDING", "SUCCEEDED"] }, holdsUntil: { gt: new Date(nowMs) } } } },
      },
      select: { id: true },
      take: batchSize,
    });
    for (const { id } of lapsed) await settle(id, "RESERVED", new Date(nowMs), report);
  }

  async function sweepOnce(): Promise<SweepReport> {
    const report: SweepReport = { expired: 0, repaired: 0, orphans: 0 };
    const nowMs = deps.now();
    await sweepIndex(nowMs, report);
    await sweepDatabase(nowMs, report);
    if (report.expired + report.repaired + report.orphans > 0) log.info(report, "swept reservations");
    return report;
  }

  /** Sweeps every `intervalMs` until closed; one sweep at a time per process. */
  function start(intervalMs: number): { close: () => Promise<void> } {
    return runPeriodically(() => sweepOnce(), intervalMs, log, "sweep");
  }

  return { sweepOnce, start };
}

export type Sweeper = ReturnType<typeof createSweeper>;
