// Giving a flash purchase's units back is done by both sides: the flash-sale subgraph takes back a purchase it
// could not complete, the order process releases flash orders that are cancelled, declined or expired.

import type { Redis } from "ioredis";
import { defineScript } from "../redis.ts";
import { decodePointer, itemKeys, orderPointerKey, saleChannel, type OrderPointer } from "./flash-keys.ts";

/** Same shape as the order subgraph's SettleResult, so its release/confirm paths take either. */
export type FlashSettleResult = { ok: true; skipped: number } | { ok: false; reason: "missing" } | { ok: false; reason: "already"; state: string };

/** Reads the reply of lua/flash_release.lua and flash_confirm.lua ('aborted' is a release that forgot the purchase). */
export function toFlashSettleResult(reply: unknown): FlashSettleResult {
  const [kind, value] = reply as [string, string | number | undefined];
  if (kind === "missing") return { ok: false, reason: "missing" };
  if (kind === "noop") return { ok: false, reason: "already", state: String(value) };
  return { ok: true, skipped: Number(value) };
}

/**
 * How a release treats the purchase: `forget` (no order was written: the key works again and the order writer
 * skips the purchase's event; a reservation whose order is being written is only released), `abort` (as forget,
 * but a reservation whose order is being written is left alone: `{ ok: false, reason: "already", state: "durable" }`).
 */
export interface FlashReleaseMode {
  forget?: boolean;
  abort?: boolean;
  /** As forget, and the reservation is deleted: only for a purchase whose event was never published. */
  erase?: boolean;
}

const modeArg = (opts: FlashReleaseMode) => (opts.erase ? "3" : opts.abort ? "2" : opts.forget ? "1" : "0");

/** The sale item an order id's purchase is on, through its order pointer; null for an order that is not a flash order. */
export const flashPointerOf = async (redis: Redis, orderId: string): Promise<OrderPointer | null> =>
  decodePointer(await redis.get(orderPointerKey(orderId)));

export interface FlashReleaseOptions {
  /** RESERVATION_TOMBSTONE_SECONDS. */
  tombstoneSeconds: number;
}

/** lua/flash_release.lua on the item's own slot: units back to the item's `remaining`, the buyer's count down, once. */
export function createFlashRelease(redis: Redis, options: FlashReleaseOptions) {
  const releaseScript = defineScript(redis, "flash_release");

  /** The script's reply: `forgotten` when the tombstone says 'aborted' (no order can appear any more). */
  async function run(at: Pick<OrderPointer, "saleId" | "productId">, orderId: string, opts: FlashReleaseMode) {
    const k = itemKeys(at.saleId, at.productId);
    const reply = await releaseScript(
      [k.item, k.users, k.reservation(orderId), k.expiry],
      [orderId, options.tombstoneSeconds, saleChannel(at.saleId), modeArg(opts)],
    );
    return { result: toFlashSettleResult(reply), forgotten: (reply as unknown[])[0] === "aborted" };
  }

  /** Releases the order's reservation on the item `at` names (forget/abort: as if the purchase never happened). */
  const releaseAt = async (at: Pick<OrderPointer, "saleId" | "productId">, orderId: string, opts: FlashReleaseMode = {}) =>
    (await run(at, orderId, opts)).result;

  /** Releases a flash order's reservation, found through its pointer; null for an order that is not a flash order. */
  async function release(orderId: string, opts: FlashReleaseMode = {}): Promise<FlashSettleResult | null> {
    const p = await flashPointerOf(redis, orderId);
    if (!p) return null;
    const { result, forgotten } = await run(p, orderId, opts);
    // The pointer is the idempotency record across items: forgetting the purchase frees the key for a new one.
    const lost = opts.forget && !result.ok && result.reason === "missing";
    if (forgotten || lost) await redis.del(orderPointerKey(orderId));
    return result;
  }

  return { releaseAt, release };
}

export type FlashRelease = ReturnType<typeof createFlashRelease>;
