import type { Redis } from "ioredis";
import { defineScript } from "../../../common/redis.ts";
import { defineReplicatedScript } from "../../../common/replicated-scripts.ts";
import { itemKeys, saleChannel } from "../../../common/orders/flash-keys.ts";

/** What Redis needs to sell one item: written at creation (warm-up) and reloaded if Redis lost it. */
export interface ItemLoad {
  saleId: string;
  productId: string;
  remaining: number;
  sold: number;
  quantity: number;
  priceCents: number;
  currency: string;
  perUserLimit: number;
  startsAtMs: number;
  endsAtMs: number;
  ended: boolean;
  /** Units each buyer holds or bought (empty for a new sale). */
  users: Map<string, number>;
}

export interface PurchaseArgs {
  saleId: string;
  productId: string;
  orderId: string;
  userId: string;
  idempotencyKey: string;
  quantity: number;
  requestHash: string;
  nowMs: number;
  expiresAtMs: number;
  rate: number;
  burst: number;
}

export type PurchaseResult =
  | { ok: true; remaining: number; version: number; priceCents: number; currency: string }
  | { ok: false; reason: "exists"; state: string; createdAtMs: number; expiresAtMs: number; priceCents: number; quantity: number }
  | { ok: false; reason: "reused" | "not_loaded" }
  | { ok: false; reason: "not_active"; startsAtMs: number; endsAtMs: number }
  | { ok: false; reason: "rate"; retryAfterMs: number }
  | { ok: false; reason: "limit"; limit: number; alreadyPurchased: number }
  | { ok: false; reason: "short"; remaining: number };

export type DrainResult = { kind: "drain"; seq: number; units: number } | { kind: "none" | "active" | "not_loaded" };

export interface LiveItem {
  remaining: number;
  sold: number;
  version: number;
}

/**
 * Typed wrappers of the flash-sale item scripts (lua/flash_*.lua); every call touches one item's slot. On a Redis
 * Cluster a purchase is answered only once a replica has it (REDIS_WAIT_REPLICAS, common/replicated-scripts.ts).
 * The others are not waited for: losing one of them can keep units unsold (an end or drain lost with its master is
 * done again by its loop; purchases check the sale's window themselves), never sell a unit twice (docs/scale-out.md,
 * "A master fails").
 */
export function createSaleStock(redis: Redis) {
  const loadScript = defineScript(redis, "flash_load");
  const purchaseScript = defineReplicatedScript(redis, "flash_purchase");
  const endScript = defineScript(redis, "flash_end");
  const drainScript = defineScript(redis, "flash_drain");
  const drainAckScript = defineScript(redis, "flash_drain_ack");

  return {
    /** True when it wrote the item, false when Redis had it already (never overwritten). */
    async load(item: ItemLoad): Promise<boolean> {
      const k = itemKeys(item.saleId, item.productId);
      const args = [
        item.remaining,
        item.sold,
        item.quantity,
        item.priceCents,
        item.currency,
        item.perUserLimit,
        item.startsAtMs,
        item.endsAtMs,
        item.ended ? "1" : "0",
        item.saleId,
        item.productId,
      ];
      for (const [user, units] of item.users) args.push(user, units);
      return (await loadScript([k.item, k.users], args)) === 1;
    },

    async purchase(a: PurchaseArgs): Promise<PurchaseResult> {
      const k = itemKeys(a.saleId, a.productId);
      const reply = (await purchaseScript(
        [k.item, k.users, k.reservation(a.orderId), k.expiry],
        [a.orderId, a.userId, a.quantity, a.requestHash, a.nowMs, a.expiresAtMs, a.rate, a.burst, saleChannel(a.saleId), a.idempotencyKey],
      )) as (string | number | null)[];
      const n = (i: number) => Number(reply[i]);
      switch (reply[0]) {
        case "ok":
          return { ok: true, remaining: n(1), version: n(2), priceCents: n(3), currency: String(reply[4]) };
        case "exists":
          return { ok: false, reason: "exists", state: String(reply[1]), createdAtMs: n(2), expiresAtMs: n(3), priceCents: n(4), quantity: n(5) };
        case "reused":
        case "not_loaded":
          return { ok: false, reason: reply[0] };
        case "not_active":
          return { ok: false, reason: "not_active", startsAtMs: n(1), endsAtMs: n(2) };
        case "rate":
          return { ok: false, reason: "rate", retryAfterMs: n(1) };
        case "limit":
          return { ok: false, reason: "limit", limit: n(1), alreadyPurchased: n(2) };
        case "short":
          return { ok: false, reason: "short", remaining: n(1) };
        default:
          throw new Error(`flash_purchase.lua answered ${JSON.stringify(reply)}`);
      }
    },

    /** Marks the item ended (purchases refused from now on); null when Redis has no such item. */
    async end(saleId: string, productId: string): Promise<{ remaining: number; changed: boolean } | null> {
      const reply = (await endScript([itemKeys(saleId, productId).item], [saleChannel(saleId)])) as (string | number)[];
      return reply[0] === "ended" ? { remaining: Number(reply[1]), changed: reply[2] === 1 } : null;
    },

    async drain(saleId: string, productId: string): Promise<DrainResult> {
      const reply = (await drainScript([itemKeys(saleId, productId).item], [saleChannel(saleId)])) as (string | number)[];
      if (reply[0] === "drain") return { kind: "drain", seq: Number(reply[1]), units: Number(reply[2]) };
      return { kind: reply[0] as "none" | "active" | "not_loaded" };
    },

    drainAck: async (saleId: string, productId: string, seq: number) => (await drainAckScript([itemKeys(saleId, productId).item], [seq])) === 1,

    /** Live counters of many items in one round trip; null for an item Redis does not have. */
    async read(items: readonly { saleId: string; productId: string }[]): Promise<(LiveItem | null)[]> {
      const replies = await Promise.all(items.map((i) => redis.hmget(itemKeys(i.saleId, i.productId).item, "remaining", "sold", "version")));
      return replies.map(([remaining, sold, version]) =>
        remaining == null ? null : { remaining: Number(remaining), sold: Number(sold ?? 0), version: Number(version ?? 0) },
      );
    },
  };
}

export type SaleStock = ReturnType<typeof createSaleStock>;
