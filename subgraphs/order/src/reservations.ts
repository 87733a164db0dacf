import type { Redis } from "ioredis";
import { defineScript, replicaAckOf } from "../../../common/redis.ts";
import { defineReplicatedScript } from "../../../common/replicated-scripts.ts";
import { failoverCheck } from "./failover-check.ts";
import { stockKey } from "../../../common/stock.ts";
import { DEFAULT_EXPIRY_INDEX, heldUnitsKey, reservationKey, restoredMarkerKey } from "../../../common/orders/reservation-keys.ts";

// Typed wrappers around lua/order_reserve.lua, order_settle.lua and order_unhold.lua. Every
// key shares the `{stock}` hash tag of the regular stock counters (the buyer's held-units counter too), so a whole
// order, and the buyer's cap on units held in RESERVED orders, is one script on one Cluster slot.
//
// On a Redis Cluster a reservation is answered only once a replica has it (REDIS_WAIT_REPLICAS,
// common/replicated-scripts.ts), after a check that the node running it is the master the counters were vouched
// for on (failover-check.ts). Settlements (release, confirm, unhold) are not waited for: each is idempotent and run
// again after a loss (by the change's event, and by the sweeper for every reservation still indexed), and losing
// one keeps units reserved for a while, never sells them twice.

export interface ReservationItem {
  productId: string;
  quantity: number;
}

export type ReserveResult =
  | { ok: true }
  | { ok: false; reason: "exists"; requestHash: string; state: string }
  /** Redis lost its data and the rebuild from PostgreSQL has not run yet (StockCounters.restoreAll). */
  | { ok: false; reason: "not_restored" }
  | { ok: false; reason: "over_limit"; limit: number; alreadyReserved: number }
  | { ok: false; reason: "not_loaded"; productIds: string[] }
  | { ok: false; reason: "short"; productId: string; available: number };

/** `not_held`: nothing left the count (already taken off, released or confirmed, a flash order, or no reservation). */
export type UnholdResult = { ok: true; units: number } | { ok: false; reason: "not_held" };

export type SettleResult = { ok: true; skipped: number } | { ok: false; reason: "missing" } | { ok: false; reason: "already"; state: string };

/**
 * Flash-sale orders hold their units on their sale item's own keys (flash/reservations.ts).
 * Each method answers null for an order that is not a flash order; release, confirm and the sweeper then use those.
 */
export interface FlashReservationStrategy {
  release(orderId: string, opts: { forget?: boolean }): Promise<SettleResult | null>;
  confirm(orderId: string): Promise<SettleResult | null>;
  due(nowMs: number, limit: number): Promise<string[]>;
  inspect(orderId: string): Promise<{ state: string; requestHash: string; expiresAtMs: number } | null>;
}

export interface ReservationOptions {
  /** Sorted set of reservations by expiry (default `{stock}:reservations:expiry`); tests isolate theirs. */
  index?: string;
  /** Lifetime of a settled reservation kept as a tombstone, in seconds. */
  tombstoneSeconds: number;
  /** RESERVATION_MAX_UNITS_PER_USER: most units one user may hold in RESERVED orders (summed over items and orders). */
  maxUnitsPerUser: number;
  /**
   * TTL of a user's held-units counter, refreshed by each reservation; at least the reservation TTL plus the
   * orphan grace, so a count whose reservations Redis lost refuses its user for no longer than that.
   */
  heldUnitsTtlSeconds: number;
  /** Where flash-sale orders' reservations are (default: none). */
  flash?: FlashReservationStrategy;
}

export function createReservations(redis: Redis, options: ReservationOptions) {
  const index = options.index ?? DEFAULT_EXPIRY_INDEX;
  const reserveScript = defineReplicatedScript(redis, "order_reserve", { leading: failoverCheck(index, replicaAckOf(redis)?.logger) });
  const settleScript = defineScript(redis, "order_settle");
  const unholdScript = defineScript(redis, "order_unhold");

  /**
   * The keys a settlement script touches besides the index and the reservation: the stock keys in the
   * reservation's own item order, then its buyer's held-units counter if it names one; null when there is no reservation.
   */
  async function settlementKeysOf(orderId: string): Promise<string[] | null> {
    const [items, holder] = await redis.hmget(reservationKey(orderId), "items", "holder");
    if (!items) return null;
    const stockKeys = (JSON.parse(items) as [string, number][]).map(([productId]) => stockKey(productId));
    return holder ? [...stockKeys, holder] : stockKeys;
  }

  function toSettleResult(reply: unknown): SettleResult {
    const [kind, value] = reply as [string, string | number | undefined];
    if (kind === "missing") return { ok: false, reason: "missing" };
    if (kind === "noop") return { ok: false, reason: "already", state: String(value) };
    return { ok: true, skipped: Number(value) };
  }

  async function settle(orderId: string, mode: "confirm" | "release" | "forget", flash?: () => Promise<SettleResult | null>): Promise<SettleResult> {
    const keys = await settlementKeysOf(orderId);
    const flashResult = keys === null && flash ? await flash() : null;
    if (flashResult) return flashResult;
    return toSettleResult(await settleScript([index, reservationKey(orderId), ...(keys ?? [])], [orderId, options.tombstoneSeconds, mode]));
  }

  return {
    index,

    /** All items or none, for `userId` within its cap on held units; items must have distinct product ids. */
    async reserve(orderId: string, expiresAtMs: number, requestHash: string, items: ReservationItem[], userId: string): Promise<ReserveResult> {
      const keys = [
        index,
        reservationKey(orderId),
        restoredMarkerKey(index),
        ...items.map((i) => stockKey(i.productId)),
        heldUnitsKey(index, userId),
      ];
      const args = [
        orderId,
        expiresAtMs,
        requestHash,
        options.maxUnitsPerUser,
        options.heldUnitsTtlSeconds,
        ...items.flatMap((i) => [i.productId, i.quantity]),
      ];
      const reply = (await reserveScript(keys, args)) as (string | number)[];
      switch (reply[0]) {
        case "ok":
          return { ok: true };
        case "exists":
          return { ok: false, reason: "exists", requestHash: String(reply[1]), state: String(reply[2]) };
        case "not_restored":
          return { ok: false, reason: "not_restored" };
        case "over_limit":
          return { ok: false, reason: "over_limit", limit: Number(reply[1]), alreadyReserved: Number(reply[2]) };
        case "not_loaded":
          return { ok: false, reason: "not_loaded", productIds: reply.slice(1).map(String) };
        case "short":
          return { ok: false, reason: "short", productId: String(reply[1]), available: Number(reply[2]) };
        default:
          throw new Error(`order_reserve.lua answered ${JSON.stringify(reply)}`);
      }
    },

    /** reserved -> available, once. `forget` deletes the reservation so its idempotency key can be used again. */
    release: (orderId: string, opts: { forget?: boolean } = {}) =>
      settle(orderId, opts.forget ? "forget" : "release", options.flash && (() => options.flash!.release(orderId, opts))),

    /** reserved -> sold, once. */
    confirm: (orderId: string) => settle(orderId, "confirm", options.flash && (() => options.flash!.confirm(orderId))),

    /** The order was paid: its units stop counting against its buyer's cap (the stock stays reserved until `confirm`). Once. */
    async unhold(orderId: string): Promise<UnholdResult> {
      const holder = await redis.hget(reservationKey(orderId), "holder");
      if (holder === null) return { ok: false, reason: "not_held" };
      const [kind, units] = (await unholdScript([reservationKey(orderId), holder], [])) as [string, number | undefined];
      return kind === "unheld" ? { ok: true, units: Number(units) } : { ok: false, reason: "not_held" };
    },

    /** Whether Redis has the order's reservation (live or a tombstone). */
    exists: async (orderId: string): Promise<boolean> => (await redis.exists(reservationKey(orderId))) === 1,

    /** Units `userId` holds in RESERVED orders as the cap counts them (0 when the counter is absent). */
    heldUnits: async (userId: string): Promise<number> => Number((await redis.get(heldUnitsKey(index, userId))) ?? 0),

    /** Order ids whose reservation expired at or before `nowMs`, oldest first. */
    async due(nowMs: number, limit: number): Promise<string[]> {
      const regular = await redis.zrangebyscore(index, "-inf", nowMs, "LIMIT", 0, limit);
      if (!options.flash || regular.length >= limit) return regular;
      return [...regular, ...(await options.flash.due(nowMs, limit - regular.length))];
    },

    /** The reservation's state and request hash, or null when there is none. */
    async inspect(orderId: string): Promise<{ state: string; requestHash: string; expiresAtMs: number } | null> {
      const [state, requestHash, expiresAt] = await redis.hmget(reservationKey(orderId), "state", "hash", "expiresAt");
      if (state && requestHash) return { state, requestHash, expiresAtMs: Number(expiresAt) };
      return (await options.flash?.inspect(orderId)) ?? null;
    },
  };
}

export type Reservations = ReturnType<typeof createReservations>;
