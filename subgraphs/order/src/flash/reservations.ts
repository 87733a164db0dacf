// The order process pays, cancels and expires flash orders like its own; this is how it reaches their
// reservations, which live on the sale item's keys in Redis (common/orders/flash-keys.ts).

import type { Redis } from "ioredis";
import { defineScript } from "../../../../common/redis.ts";
import { itemKeys, type OrderPointer } from "../../../../common/orders/flash-keys.ts";
import { createFlashRelease, flashPointerOf, toFlashSettleResult, type FlashSettleResult } from "../../../../common/orders/flash-release.ts";

export interface FlashReservation {
  pointer: OrderPointer;
  orderId: string;
  userId: string;
  idempotencyKey: string;
  state: string;
  quantity: number;
  priceCents: number;
  currency: string;
  createdAtMs: number;
  expiresAtMs: number;
}

/** How far back the sweeper looks for items whose reservations may still be due: at most RESERVATION_TTL (<= 1 day) after endsAt. */
const SWEEP_HORIZON_MS = 86_400_000 + 3_600_000;

export interface FlashReservationOptions {
  /**
   * Sorted set of the items' expiry indexes (score: the sale's endsAt) that the order sweeper reads. One per
   * database, like the order expiry index: a sweeper must only see reservations whose orders it can look up.
   */
  registry: string;
  /** RESERVATION_TOMBSTONE_SECONDS. */
  tombstoneSeconds: number;
}

/**
 * Flash reservations as the order subgraph sees them: found by order id through the order pointer, released
 * and confirmed by lua/flash_release.lua and flash_confirm.lua on the item's own slot, swept through the registry.
 * Every method answers null for an order id that is not a flash order, so the caller falls back to its own.
 */
export function createFlashReservations(redis: Redis, options: FlashReservationOptions) {
  const { release } = createFlashRelease(redis, { tombstoneSeconds: options.tombstoneSeconds });
  const confirmScript = defineScript(redis, "flash_confirm");

  async function confirm(orderId: string): Promise<FlashSettleResult | null> {
    const p = await flashPointerOf(redis, orderId);
    if (!p) return null;
    const k = itemKeys(p.saleId, p.productId);
    return toFlashSettleResult(await confirmScript([k.item, k.reservation(orderId), k.expiry], [orderId, options.tombstoneSeconds]));
  }

  /** The reservation behind a flash order id, with what its order needs (currency from the item). */
  async function find(orderId: string): Promise<FlashReservation | null> {
    const pointer = await flashPointerOf(redis, orderId);
    if (!pointer) return null;
    const k = itemKeys(pointer.saleId, pointer.productId);
    const [h, currency] = await Promise.all([redis.hgetall(k.reservation(orderId)), redis.hget(k.item, "currency")]);
    if (!h.state) return null;
    return {
      pointer,
      orderId,
      userId: h.user!,
      idempotencyKey: h.key!,
      state: h.state,
      quantity: Number(h.quantity),
      priceCents: Number(h.price),
      currency: String(currency ?? "USD"),
      createdAtMs: Number(h.createdAt),
      expiresAtMs: Number(h.expiresAt),
    };
  }

  return {
    release,
    confirm,
    find,

    async inspect(orderId: string): Promise<{ state: string; requestHash: string; expiresAtMs: number } | null> {
      const r = await find(orderId);
      return r ? { state: r.state, requestHash: r.pointer.requestHash, expiresAtMs: r.expiresAtMs } : null;
    },

    /** Flash order ids whose reservation expired at or before `nowMs`, across every registered item. */
    async due(nowMs: number, limit: number): Promise<string[]> {
      await redis.zremrangebyscore(options.registry, "-inf", nowMs - SWEEP_HORIZON_MS);
      const indexes = await redis.zrange(options.registry, 0, -1);
      if (indexes.length === 0) return [];
      const lists = await Promise.all(indexes.map((index) => redis.zrangebyscore(index, "-inf", nowMs, "LIMIT", 0, limit)));
      return lists.flat().slice(0, limit);
    },
  };
}

export type FlashReservations = ReturnType<typeof createFlashReservations>;
