import type { Redis } from "ioredis";
import { defineScript } from "../../../common/redis.ts";
import { stockKey } from "../../../common/stock.ts";
import { DEFAULT_EXPIRY_INDEX, reservationKey } from "../../../common/orders/reservation-keys.ts";

// Typed wrappers around lua/order_reserve.lua, order_release.lua and order_confirm.lua. Every key shares
// the `{stock}` hash tag of the regular stock counters, so a whole order is one script on one Cluster slot.

export interface ReservationItem {
  productId: string;
  quantity: number;
}

export type ReserveResult =
  | { ok: true }
  | { ok: false; reason: "exists"; requestHash: string; state: string }
  | { ok: false; reason: "not_loaded"; productIds: string[] }
  | { ok: false; reason: "short"; productId: string; available: number };

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
  /** Where flash-sale orders' reservations are (default: none). */
  flash?: FlashReservationStrategy;
}

export function createReservations(redis: Redis, options: ReservationOptions) {
  const index = options.index ?? DEFAULT_EXPIRY_INDEX;
  const reserveScript = defineScript(redis, "order_reserve");
  const releaseScript = defineScript(redis, "order_release");
  const confirmScript = defineScript(redis, "order_confirm");

  /** The stock keys of a reservation in its own item order; null when the reservation does not exist. */
  async function stockKeysOf(orderId: string): Promise<string[] | null> {
    const items = await redis.hget(reservationKey(orderId), "items");
    if (items === null) return null;
    return (JSON.parse(items) as [string, number][]).map(([productId]) => stockKey(productId));
  }

  function toSettleResult(reply: unknown): SettleResult {
    const [kind, value] = reply as [string, string | number | undefined];
    if (kind === "missing") return { ok: false, reason: "missing" };
    if (kind === "noop") return { ok: false, reason: "already", state: String(value) };
    return { ok: true, skipped: Number(value) };
  }

  async function settle(
    script: typeof releaseScript,
    orderId: string,
    extra: (string | number)[],
    flash?: () => Promise<SettleResult | null>,
  ): Promise<SettleResult> {
    const keys = await stockKeysOf(orderId);
    const flashResult = keys === null && flash ? await flash() : null;
    if (flashResult) return flashResult;
    return toSettleResult(await script([index, reservationKey(orderId), ...(keys ?? [])], [orderId, options.tombstoneSeconds, ...extra]));
  }

  return {
    index,

    /** All items or none; items must have distinct product ids. */
    async reserve(orderId: string, expiresAtMs: number, requestHash: string, items: ReservationItem[]): Promise<ReserveResult> {
      const keys = [index, reservationKey(orderId), ...items.map((i) => stockKey(i.productId))];
      const args = [orderId, expiresAtMs, requestHash, ...items.flatMap((i) => [i.productId, i.quantity])];
      const reply = (await reserveScript(keys, args)) as (string | number)[];
      switch (reply[0]) {
        case "ok":
          return { ok: true };
        case "exists":
          return { ok: false, reason: "exists", requestHash: String(reply[1]), state: String(reply[2]) };
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
      settle(releaseScript, orderId, [opts.forget ? "1" : "0"], options.flash && (() => options.flash!.release(orderId, opts))),

    /** reserved -> sold, once. */
    confirm: (orderId: string) => settle(confirmScript, orderId, [], options.flash && (() => options.flash!.confirm(orderId))),

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
