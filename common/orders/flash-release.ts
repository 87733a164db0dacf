// Giving a flash purchase's units back is done by both sides: the flash-sale subgraph takes back a purchase it
// could not complete, the order process releases flash orders that are cancelled, declined or expired.

import type { Redis } from "ioredis";
import { defineScript } from "../redis.ts";
import { decodePointer, itemKeys, orderPointerKey, saleChannel, type OrderPointer } from "./flash-keys.ts";

/** Same shape as the order subgraph's SettleResult, so its release/confirm paths take either. */
export type FlashSettleResult = { ok: true; skipped: number } | { ok: false; reason: "missing" } | { ok: false; reason: "already"; state: string };

/** Reads the reply of lua/flash_release.lua and flash_confirm.lua. */
export function toFlashSettleResult(reply: unknown): FlashSettleResult {
  const [kind, value] = reply as [string, string | number | undefined];
  if (kind === "missing") return { ok: false, reason: "missing" };
  if (kind === "noop") return { ok: false, reason: "already", state: String(value) };
  return { ok: true, skipped: Number(value) };
}

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

  /** Releases the order's reservation on the item `at` names (forget: as if the purchase never happened). */
  async function releaseAt(
    at: Pick<OrderPointer, "saleId" | "productId">,
    orderId: string,
    opts: { forget?: boolean } = {},
  ): Promise<FlashSettleResult> {
    const k = itemKeys(at.saleId, at.productId);
    return toFlashSettleResult(
      await releaseScript(
        [k.item, k.users, k.reservation(orderId), k.expiry],
        [orderId, options.tombstoneSeconds, saleChannel(at.saleId), opts.forget ? "1" : "0"],
      ),
    );
  }

  /** Releases a flash order's reservation, found through its pointer; null for an order that is not a flash order. */
  async function release(orderId: string, opts: { forget?: boolean } = {}): Promise<FlashSettleResult | null> {
    const p = await flashPointerOf(redis, orderId);
    if (!p) return null;
    const result = await releaseAt(p, orderId, opts);
    // The pointer is the idempotency record across items: forgetting the purchase frees the key for a new one.
    if (opts.forget) await redis.del(orderPointerKey(orderId));
    return result;
  }

  return { releaseAt, release };
}

export type FlashRelease = ReturnType<typeof createFlashRelease>;
