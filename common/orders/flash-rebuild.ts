// Rebuilding a flash-sale item Redis lost from PostgreSQL (lua/flash_rebuild.lua): its counters, every order's
// reservation and pointer, its buyers' units. Mirrors stock-rebuild.ts for regular stock: the counters count the
// open orders' units only because those orders' reservations come back with them, so that each later release
// or confirmation moves its units exactly once (docs/flash-sales.md, Warm-up and what Redis loss means).

import type { Redis } from "ioredis";
import type { PrismaClient, Tx } from "../prisma.ts";
import { defineScript } from "../redis.ts";
import { encodePointer, flashPointerTtlSeconds, itemKeys, orderPointerKey } from "./flash-keys.ts";
import { expiryIndexOfDatabase, flashRegistryFor } from "./reservation-keys.ts";

export interface FlashRebuildOptions {
  /**
   * The registry of item expiry sets the order sweeper reads (default: the one of the connected database,
   * `flashRegistryFor(expiryIndexOfDatabase(current_database()))`); test stacks pass their own.
   */
  registry?: string;
  /** RESERVATION_TOMBSTONE_SECONDS (default 259 200, the setting's default): settled orders' tombstones and pointers. */
  tombstoneSeconds?: number;
  /** The clock deciding whether a sale is still live (default Date.now). */
  now?: () => number;
}

/** `loaded`: written now; `present`: Redis had it; `not_live`: the sale ended (never reloaded: its drains must not start over). */
export type FlashRebuildResult = "loaded" | "present" | "not_live" | "no_item";

interface ItemOrder {
  id: string;
  user_id: string;
  idempotency_key: string;
  request_hash: string;
  status: "RESERVED" | "PAID" | "CONFIRMED" | "CANCELLED" | "EXPIRED";
  reserved_until: Date;
  created_at: Date;
  quantity: number;
  unit_price_cents: number;
}

/** Orders per script call, so Redis is never blocked for long by one call. */
const CHUNK = 500;
/** A large item reads and locks many rows; the rebuild gets more time than a request. */
const REBUILD_TX = { maxWait: 10_000, timeout: 60_000 } as const;

/** The advisory lock of one sale item: writers of its orders hold it shared, its rebuild exclusively. */
const lockName = (saleId: string, productId: string) => `flash-item:${saleId}:${productId}`;

/**
 * Holds the rebuild locks of these sale items, shared, until the transaction ends: an order of the item that
 * passes the fence and is written inside it is either wholly before a rebuild (which then reads it) or wholly
 * after (and then the fence sees the rebuilt item). Shared holders never wait for each other.
 */
export async function lockFlashItemsShared(tx: Tx, items: readonly { saleId: string; productId: string }[]): Promise<void> {
  const names = [...new Set(items.map((i) => lockName(i.saleId, i.productId)))].sort();
  await tx.$queryRaw`SELECT count(*)::int AS n FROM (SELECT pg_advisory_xact_lock_shared(hashtextextended(k, 0)) FROM unnest(${names}::text[]) AS k) l`;
}

const stateOf = (status: ItemOrder["status"]) =>
  status === "RESERVED" || status === "PAID" ? "reserved" : status === "CONFIRMED" ? "confirmed" : "released";

export function createFlashRebuild(redis: Redis, prisma: PrismaClient, options: FlashRebuildOptions = {}) {
  const script = defineScript(redis, "flash_rebuild");
  const tombstoneSeconds = options.tombstoneSeconds ?? 259_200;
  const pointerTtl = flashPointerTtlSeconds(tombstoneSeconds);
  const now = options.now ?? Date.now;
  let registry = options.registry;
  const running = new Map<string, Promise<FlashRebuildResult>>();

  async function registryOf(tx: Tx): Promise<string> {
    if (registry) return registry;
    const [row] = await tx.$queryRaw<{ db: string }[]>`SELECT current_database() AS db`;
    return (registry = flashRegistryFor(expiryIndexOfDatabase(row!.db)));
  }

  async function rebuild(saleId: string, productId: string): Promise<FlashRebuildResult> {
    const k = itemKeys(saleId, productId);
    return prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT count(*)::int AS n FROM (SELECT pg_advisory_xact_lock(hashtextextended(${lockName(saleId, productId)}, 0))) l`;
      const item = await tx.flashSaleItem.findUnique({ where: { saleId_productId: { saleId, productId } }, include: { sale: true } });
      if (!item) return "no_item";
      if (item.sale.endedAt || item.sale.endsAt.getTime() <= now()) return "not_live";
      if ((await redis.exists(k.item)) === 1) return "present";
      const product = await tx.product.findUnique({ where: { id: productId }, select: { currency: true } });
      // FOR SHARE: a settlement (which locks its order's row) commits wholly before this read or after the script.
      const orders = await tx.$queryRaw<ItemOrder[]>`
        SELECT o.id::text, o.user_id, o.idempotency_key, o.request_hash, o.status::text AS status, o.reserved_until,
               o.created_at, i.quantity, i.unit_price_cents
        FROM orders o JOIN order_items i ON i.order_id = o.id
        WHERE o.flash_sale_id = ${saleId}::uuid AND i.product_id = ${productId}::uuid
        ORDER BY o.id FOR SHARE OF o`;

      // Pointers first: a settlement that commits after this transaction finds the pointer and the reservation.
      // Separate commands sent together, not a pipeline: the pointers and the registry are on slots of their own.
      const registryKey = await registryOf(tx);
      await Promise.all([
        ...orders.map((o) =>
          redis.set(orderPointerKey(o.id), encodePointer({ saleId, productId, requestHash: o.request_hash }), "EX", pointerTtl, "NX"),
        ),
        redis.zadd(registryKey, item.sale.endsAt.getTime(), k.expiry),
      ]);

      const users = new Map<string, number>();
      let sold = 0;
      let confirmed = 0;
      for (const o of orders) {
        if (stateOf(o.status) === "released") continue;
        sold += o.quantity;
        if (o.status === "CONFIRMED") confirmed += o.quantity;
        users.set(o.user_id, (users.get(o.user_id) ?? 0) + o.quantity);
      }
      const fields = {
        remaining: Math.max(0, item.quantity - item.returnedQuantity - sold),
        sold,
        confirmed,
        quantity: item.quantity,
        price: item.salePriceCents,
        currency: product?.currency.trim() ?? "USD",
        limit: item.sale.perUserLimit,
        startsAt: item.sale.startsAt.getTime(),
        endsAt: item.sale.endsAt.getTime(),
        ended: 0,
        sale: saleId,
        product: productId,
        version: 1,
        drainSeq: 0,
        drainPending: 0,
      };
      for (let start = 0; ; start += CHUNK) {
        const chunk = orders.slice(start, start + CHUNK);
        const last = start + CHUNK >= orders.length;
        const payload = {
          orders: chunk.map((o) => [
            o.id,
            o.user_id,
            o.idempotency_key,
            o.request_hash,
            stateOf(o.status),
            o.quantity,
            o.unit_price_cents,
            o.created_at.getTime(),
            o.reserved_until.getTime(),
          ]),
          tombstone: tombstoneSeconds,
          item: last ? { fields: Object.entries(fields).flat(), users: [...users].flat() } : null,
        };
        const reply = await script([k.item, k.users, k.expiry, ...chunk.map((o) => k.reservation(o.id))], [JSON.stringify(payload)]);
        if (reply === 0) return "present";
        if (last) return "loaded";
      }
    }, REBUILD_TX);
  }

  return {
    /**
     * Loads a sale item Redis does not have, with everything its orders hold (see lua/flash_rebuild.lua), under
     * the item's rebuild lock; one run per item at a time in this process (concurrent callers share it). An item
     * Redis has is never overwritten, and an ended sale is not loaded.
     */
    async loadItem(saleId: string, productId: string): Promise<FlashRebuildResult> {
      if ((await redis.exists(itemKeys(saleId, productId).item)) === 1) return "present";
      const name = lockName(saleId, productId);
      let run = running.get(name);
      if (!run) {
        run = rebuild(saleId, productId).finally(() => running.delete(name));
        running.set(name, run);
      }
      return run;
    },
  };
}

export type FlashRebuild = ReturnType<typeof createFlashRebuild>;
