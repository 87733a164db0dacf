import type { Redis } from "ioredis";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { createStockCounters } from "../../../common/stock.ts";
import { DEFAULT_EXPIRY_INDEX, flashRegistryFor } from "../../../common/orders/reservation-keys.ts";
import { createReservations } from "./reservations.ts";
import { createFlashReservations } from "./flash/reservations.ts";
import { createPendingFlashOrders } from "./flash/pending-orders.ts";
import { createFlashFence } from "../../../common/orders/flash-fence.ts";
import { createOrderReader } from "./orders.ts";
import { createTransitions } from "./transitions.ts";
import { createPlaceOrder } from "./place-order.ts";
import { createOrderActions } from "./order-actions.ts";
import { createSweeper } from "./sweeper.ts";
import { createPaymentReader } from "./payments.ts";
import { createStockAggregator } from "./stock-aggregator.ts";

export interface OrderDomainOptions {
  prisma: PrismaClient;
  redis: Redis;
  logger: Logger;
  /** RESERVATION_TTL_SECONDS. */
  reservationTtlSeconds: number;
  /** RESERVATION_TOMBSTONE_SECONDS. */
  tombstoneSeconds: number;
  /** RESERVATION_ORPHAN_GRACE_SECONDS. */
  orphanGraceSeconds: number;
  /** RESERVATION_MAX_UNITS_PER_USER. */
  maxUnitsPerUser: number;
  /** PAYMENT_HOLD_SECONDS (default 600, the variable's default). */
  paymentHoldSeconds?: number;
  /** Expiry index key (default `{stock}:reservations:expiry`); tests give each stack its own. */
  expiryIndex?: string;
  /** The clock every expiry decision reads (default `Date.now`); tests move it instead of waiting. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * A user's held-units counter outlives every reservation it counts by this much past its TTL plus the orphan
 * grace: the last of them is released by the sweep after that (the sweeper runs every second by default).
 */
const HELD_UNITS_MARGIN_SECONDS = 60;

/** Everything the order subgraph and its workers share, built once per process from injected dependencies. */
export function createOrderDomain(options: OrderDomainOptions) {
  const { prisma, redis, logger } = options;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const index = options.expiryIndex ?? DEFAULT_EXPIRY_INDEX;
  // Flash orders are paid, cancelled and expired by this code too; only their reservations live elsewhere (flash/).
  const flash = createFlashReservations(redis, { registry: flashRegistryFor(index), tombstoneSeconds: options.tombstoneSeconds });
  const pending = createPendingFlashOrders(prisma, flash, createFlashFence(redis));
  const heldUnitsTtlSeconds = options.reservationTtlSeconds + options.orphanGraceSeconds + HELD_UNITS_MARGIN_SECONDS;
  const reservations = createReservations(redis, {
    index,
    tombstoneSeconds: options.tombstoneSeconds,
    maxUnitsPerUser: options.maxUnitsPerUser,
    heldUnitsTtlSeconds,
    flash,
  });
  // Rebuilds after a loss of Redis's data restore reservations into this index and count them in its held-units counters.
  const counters = createStockCounters(redis, prisma, { expiryIndex: index, heldUnitsTtlSeconds });
  const orders = createOrderReader(prisma, pending.find);
  // Orders append their stock moves to the journal; this folds them into the stock rows (started by the caller).
  const stockAggregator = createStockAggregator({ prisma, logger });
  const transitions = createTransitions({ prisma, reservations, logger, onStockMoved: stockAggregator.nudge });
  return {
    now,
    prisma,
    reservations,
    counters,
    orders,
    payments: createPaymentReader(prisma),
    transitions,
    stockAggregator,
    placeOrder: createPlaceOrder({
      prisma,
      reservations,
      counters,
      logger,
      reservationTtlSeconds: options.reservationTtlSeconds,
      now,
      sleep,
      onStockMoved: stockAggregator.nudge,
    }),
    actions: createOrderActions({
      prisma,
      transitions,
      now,
      paymentHoldMs: (options.paymentHoldSeconds ?? 600) * 1000,
      persistPending: pending.persist,
    }),
    sweeper: createSweeper({ prisma, reservations, transitions, logger, now, orphanGraceMs: options.orphanGraceSeconds * 1000 }),
  };
}

export type OrderDomain = ReturnType<typeof createOrderDomain>;
