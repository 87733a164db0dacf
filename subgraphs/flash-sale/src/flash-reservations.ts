import type { Redis } from "ioredis";
import { defineScript } from "../../../common/redis.ts";
import { decodePointer, itemKeys, orderPointerKey, saleChannel, type OrderPointer } from "./keys.ts";

/** Same shape as the order subgraph's SettleResult, so its release/confirm paths take either. */
export type FlashSettleResult =
  | { ok: true; skipped: number }
  | { ok: false; reason: "missing" }
  | { ok: false; reason: "already"; state: string };

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
  const releaseScript = defineScript(redis, "flash_release");
  const confirmScript = defineScript(redis, "flash_confirm");

  const pointerOf = async (orderId: string) => decodePointer(await redis.get(orderPointerKey(orderId)));

  function toSettle(reply: unknown): FlashSettleResult {
    const [kind, value] = reply as [string, string | number | undefined];
    if (kind === "missing") return { ok: false, reason: "missing" };
    if (kind === "noop") return { ok: false, reason: "already", state: String(value) };
    return { ok: true, skipped: Number(value) };
  }

  /** Releases the order's reservation on the item `at` names (forget: as if the purchase never happened). */
  async function releaseAt(at: Pick<OrderPointer, "saleId" | "productId">, orderId: string, opts: { forget?: boolean } = {}): Promise<FlashSettleResult> {
    const k = itemKeys(at.saleId, at.productId);
    return toSettle(
      await releaseScript([k.item, k.users, k.reservation(orderId), k.expiry], [orderId, options.tombstoneSeconds, saleChannel(at.saleId), opts.forget ? "1" : "0"]),
    );
  }

  async function release(orderId: string, opts: { forget?: boolean } = {}): Promise<FlashSettleResult | null> {
    const p = await pointerOf(orderId);
    if (!p) return null;
    const result = await releaseAt(p, orderId, opts);
    // The pointer is the idempotency record across items: forgetting the purchase frees the key for a new one.
    if (opts.forget) await redis.del(orderPointerKey(orderId));
    return result;
  }

  async function confirm(orderId: string): Promise<FlashSettleResult | null> {
    const p = await pointerOf(orderId);
    if (!p) return null;
    const k = itemKeys(p.saleId, p.productId);
    return toSettle(await confirmScript([k.item, k.reservation(orderId), k.expiry], [orderId, options.tombstoneSeconds]));
  }

  /** The reservation behind a flash order id, with what its order needs (currency from the item). */
  async function find(orderId: string): Promise<FlashReservation | null> {
    const pointer = await pointerOf(orderId);
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
    releaseAt,
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

    /** Makes the sweeper look at an item's expiry index until a day past the sale's end. */
    register: (saleId: string, productId: string, endsAtMs: number) => redis.zadd(options.registry, endsAtMs, itemKeys(saleId, productId).expiry),
  };
}

export type FlashReservations = ReturnType<typeof createFlashReservations>;

/** The registry that goes with an order expiry index: one per database in production, one per stack in tests. */
export const flashRegistryFor = (orderExpiryIndex: string) => `${orderExpiryIndex}:flash-items`;
