import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import type { StockCounters } from "../../../common/stock.ts";
import { appError, ErrorCode } from "../../../common/errors.ts";
import { requestHash, type PlaceOrderRequest } from "./input.ts";
import { orderIdFor } from "../../../common/orders/order-id.ts";
import { createPlacementReader, priceLines } from "./pricing.ts";
import { withItems, type OrderRecord } from "../../../common/orders/order-record.ts";
import { recordReservedOrders, type NewOrder, type RecordOutcome } from "./record-order.ts";
import { createBatching } from "../../../common/batching.ts";
import type { Reservations, ReservationItem } from "./reservations.ts";

export interface PlaceOrderDeps {
  prisma: PrismaClient;
  reservations: Reservations;
  counters: StockCounters;
  logger: Logger;
  reservationTtlSeconds: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** How long a request waits for a concurrent twin (same user and key) to commit, in ms (default 8 000). */
  twinWaitMs?: number;
  /** Called after an order and its stock moves were committed (the stock aggregator's nudge). */
  onStockMoved?: () => void;
  /** Most orders written by one statement (default 100). */
  writeBatch?: number;
}

const TWIN_POLL_MS = 20;
/**
 * Past this age a reservation whose order is not in PostgreSQL has no live request behind it: a request's reads and
 * write are each bounded by the statement timeout (10 s), so one that reserved this long ago has ended.
 */
const TWIN_TAKEOVER_MS = 30_000;
/** Rebuilds a request runs when Redis keeps losing its data under them, before it fails (nothing reserved). */
const REBUILD_ATTEMPTS = 3;
const keyReused = () => appError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "This idempotency key was already used for a different order request.");

/**
 * placeOrder: the same user and key always name the same order id, so a retry finds its order (or its
 * in-flight reservation) instead of making another. Stock is taken in Redis first, in one script for all
 * items, so a refused request touches nothing durable; the order, its stock moves and its event are then
 * written by one PostgreSQL statement (record-order.ts).
 */
export function createPlaceOrder(deps: PlaceOrderDeps) {
  const { prisma, reservations, counters } = deps;
  const log = deps.logger.child({ component: "place-order" });
  // The orders of concurrent requests are written together, one statement per batch (record-order.ts).
  const readForPlacement = createPlacementReader(prisma);
  const record = createBatching<NewOrder, RecordOutcome>((orders) => recordReservedOrders(prisma, orders), { maxBatch: deps.writeBatch ?? 100 });
  const find = (id: string) => prisma.order.findUnique({ where: { id }, include: withItems });
  const sameRequest = (order: OrderRecord, hash: string) => {
    if (order.requestHash !== hash) throw keyReused();
    return order;
  };

  /**
   * Reserves in Redis, first rebuilding what Redis lost: everything (up to REBUILD_ATTEMPTS times), after a loss of its data
   * (`not_restored`: no count could be trusted), or the counters of products it does not have. Refusals throw the
   * API error; they leave nothing behind, so the same key sent again later is a new attempt (it succeeds once the
   * units fit).
   */
  async function reserve(userId: string, orderId: string, expiresAtMs: number, hash: string, items: ReservationItem[]) {
    let result = await reservations.reserve(orderId, expiresAtMs, hash, items, userId);
    for (let rebuilt = 0; !result.ok && result.reason === "not_restored" && rebuilt < REBUILD_ATTEMPTS; rebuilt++) {
      await counters.restoreAll();
      result = await reservations.reserve(orderId, expiresAtMs, hash, items, userId);
    }
    if (!result.ok && result.reason === "not_loaded") {
      await counters.loadFromDatabase(result.productIds);
      result = await reservations.reserve(orderId, expiresAtMs, hash, items, userId);
    }
    if (result.ok || result.reason === "exists") return result;
    if (result.reason === "not_restored") throw new Error(`order ${orderId}: Redis lost its data again while it was rebuilt`);
    if (result.reason === "over_limit") {
      const { limit, alreadyReserved } = result;
      throw appError(
        ErrorCode.PURCHASE_LIMIT_EXCEEDED,
        `This order would hold more than ${limit} units in unpaid orders (${alreadyReserved} already reserved); pay for or cancel one first. Nothing was reserved.`,
        { limit, alreadyReserved },
      );
    }
    const productId = result.reason === "short" ? result.productId : result.productIds[0]!;
    const available = result.reason === "short" ? result.available : 0;
    throw appError(ErrorCode.OUT_OF_STOCK, `Not enough stock for product ${productId}; nothing was reserved.`, { productId, available });
  }

  /**
   * A twin holds the reservation: wait until its order is committed, or until it gave up (reservation gone). A
   * reservation older than any request can run (TWIN_TAKEOVER_MS) whose order is not in PostgreSQL lost its request
   * (its process was killed between the reservation and the write): it is `abandoned`, and this request writes the
   * order on it, instead of every retry failing until the sweeper releases it.
   */
  async function awaitTwin(orderId: string, hash: string): Promise<OrderRecord | "gone" | { abandoned: number }> {
    for (let waited = 0; waited <= (deps.twinWaitMs ?? 8_000); waited += TWIN_POLL_MS) {
      const order = await find(orderId);
      if (order) return sameRequest(order, hash);
      const reservation = await reservations.inspect(orderId);
      if (!reservation) return "gone";
      const reservedAt = reservation.expiresAtMs - deps.reservationTtlSeconds * 1000;
      if (reservation.state === "reserved" && deps.now() - reservedAt > TWIN_TAKEOVER_MS) return { abandoned: reservation.expiresAtMs };
      await deps.sleep(TWIN_POLL_MS);
    }
    throw new Error(`order ${orderId}: a concurrent request with the same idempotency key did not finish in time`);
  }

  /**
   * The order is written; if Redis lost its reservation meanwhile (its data was lost between the reservation and
   * the write, so a rebuild in between could not see the order), it is restored, so releasing or confirming the
   * order moves its units in Redis too. A failure here does not fail the order: PostgreSQL has it, and it settles
   * there (the sweeper's database pass expires it) while Redis stays consistent without it.
   */
  async function keepReservation(orderId: string): Promise<void> {
    try {
      if (!(await reservations.exists(orderId))) await counters.restoreOrder(orderId);
    } catch (error) {
      log.warn({ err: error, orderId }, "could not restore the order's lost reservation");
    }
  }

  /** The order could not be written: give its stock back unless PostgreSQL has it after all (commit outcome unknown). */
  async function undoReservation(orderId: string, hash: string, error: unknown): Promise<OrderRecord> {
    const stored = await find(orderId).catch(() => undefined);
    if (stored) return sameRequest(stored, hash);
    if (stored === null) await reservations.release(orderId, { forget: true });
    else log.warn({ orderId }, "order state unknown; its reservation is left for the expiry sweeper");
    throw error;
  }

  return async function placeOrder(userId: string, request: PlaceOrderRequest): Promise<OrderRecord> {
    const orderId = orderIdFor(userId, request.idempotencyKey);
    const hash = requestHash(request.items);
    const catalogue = await readForPlacement(
      orderId,
      request.items.map((i) => i.productId),
    );
    if (catalogue.existingRequestHash !== null) {
      // A retry: its order, as placed, even if the price changed since (so prices are not checked).
      if (catalogue.existingRequestHash !== hash) throw keyReused();
      const existing = await find(orderId);
      if (existing) return existing;
    }
    const { lines, totalCents, currency } = priceLines(catalogue.prices, request.items);
    let expiresAtMs = deps.now() + deps.reservationTtlSeconds * 1000;
    // When this request made the reservation (null: it writes on an abandoned one, see awaitTwin).
    let reservedAtMs: number | null = null;
    for (let attempt = 1; ; attempt++) {
      const reserved = await reserve(userId, orderId, expiresAtMs, hash, lines);
      if (reserved.ok) {
        reservedAtMs = deps.now();
        break;
      }
      if (reserved.requestHash !== hash) throw keyReused();
      const twin = await awaitTwin(orderId, hash);
      if (twin !== "gone" && "abandoned" in twin) {
        log.warn({ orderId }, "writing the order on a reservation its request abandoned");
        expiresAtMs = twin.abandoned;
        break;
      }
      if (twin !== "gone") return twin;
      if (attempt >= 2) throw new Error(`order ${orderId}: reservation kept disappearing under a concurrent twin`);
    }

    let outcome: RecordOutcome;
    try {
      outcome = await record({
        id: orderId,
        userId,
        idempotencyKey: request.idempotencyKey,
        requestHash: hash,
        totalCents,
        currency,
        reservedUntil: new Date(expiresAtMs),
        lines,
      });
    } catch (error) {
      return undoReservation(orderId, hash, error);
    }
    if (outcome.written) {
      deps.onStockMoved?.();
      await keepReservation(orderId);
      return outcome.order;
    }
    if (outcome.reason === "duplicate") {
      const stored = await find(orderId);
      // Written before this request reserved: PostgreSQL had the order but Redis had no reservation for it (Redis
      // lost its data), so the one just made is a second hold on the same units and goes back first. Its own
      // reservation may have been lost with the rest, so it is restored from PostgreSQL if it is open. Written
      // since: by a request that took over this one's reservation (awaitTwin), which the order now holds.
      if (stored && reservedAtMs !== null && stored.createdAt.getTime() < reservedAtMs) {
        await reservations.release(orderId, { forget: true });
        await keepReservation(orderId);
      }
      if (stored) return sameRequest(stored, hash);
    }
    const why =
      outcome.reason === "duplicate"
        ? "PostgreSQL refused it as a duplicate but has no order with its id"
        : "a product has no stock row in PostgreSQL";
    return undoReservation(orderId, hash, new Error(`order ${orderId}: ${why}`));
  };
}

export type PlaceOrder = ReturnType<typeof createPlaceOrder>;
