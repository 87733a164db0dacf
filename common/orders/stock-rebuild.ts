// Rebuilding Redis's regular stock from PostgreSQL after Redis lost its data (lua/stock_rebuild.lua). Redis is a
// cache of PostgreSQL: counters loaded from the stock rows include the units of every open order, so the same
// step restores those orders' reservations, and a later release or confirmation moves each unit exactly once.

import type { Redis } from "ioredis";
import type { PrismaClient, Tx } from "../prisma.ts";
import type { StockSnapshot } from "../events.ts";
import { defineScript } from "../redis.ts";
import { lockStockForRebuild } from "./stock-locks.ts";
import { heldUnitsKey, expiryIndexOfDatabase, reservationKey, restoredMarkerKey } from "./reservation-keys.ts";

export interface StockRebuildOptions {
  /**
   * The expiry index whose reservations and held-units counters are restored (default: the one the order
   * subgraph uses for the connected database, `expiryIndexFor(DATABASE_URL)`); test stacks pass their own.
   */
  expiryIndex?: string;
  /**
   * TTL of a held-units counter the rebuild creates, in seconds (the order subgraph's, see reservations.ts).
   * Default 0: services that do not place orders (inventory, flash sales) only add to counters that exist.
   */
  heldUnitsTtlSeconds?: number;
}

/** An open regular order as the rebuild reads it. */
interface OpenOrder {
  id: string;
  user_id: string;
  status: "RESERVED" | "PAID";
  request_hash: string;
  reserved_until: Date;
  items: [string, number][];
}

interface StockRow {
  product_id: string;
  available: number;
  reserved: number;
  sold: number;
}

interface RebuildReply {
  loaded: string[] | Record<string, never>;
  restored: number;
  counters: Record<string, [number, number, number]>;
}

/** Orders per script call of the full rebuild, so Redis is never blocked for long by one call. */
const FULL_REBUILD_CHUNK = 500;
/** The full rebuild reads every open order and may lock many stock rows; it gets more time than a request. */
const REBUILD_TX = { maxWait: 10_000, timeout: 60_000 } as const;

export function createStockRebuild(redis: Redis, prisma: PrismaClient, options: StockRebuildOptions = {}) {
  const script = defineScript(redis, "stock_rebuild");
  const holderTtl = options.heldUnitsTtlSeconds ?? 0;
  let index: string | undefined = options.expiryIndex;
  let fullRebuild: Promise<void> | null = null;

  async function indexOf(tx: Tx): Promise<string> {
    if (index) return index;
    const [row] = await tx.$queryRaw<{ db: string }[]>`SELECT current_database() AS db`;
    return (index = expiryIndexOfDatabase(row!.db));
  }

  /**
   * Stops every change to these products' stock until the transaction ends, then reads their current counters.
   * Orders append their moves to the stock journal under the products' rebuild locks held shared (stock-locks.ts):
   * taken here exclusively (or `stock:all` by the caller, for `held: "all"`), no order of them is written or settled meanwhile. Restocks,
   * sales and the stock aggregator update the rows: locked FOR SHARE in product id order (every stock write locks
   * in that order). Only then are the counters read, in one statement: each row plus its moves still in the journal.
   */
  async function lockRows(tx: Tx, productIds: readonly string[], held?: "all"): Promise<StockRow[]> {
    if (held !== "all") await lockStockForRebuild(tx, productIds);
    await tx.$queryRaw`SELECT count(*)::int AS n FROM (
        SELECT 1 FROM stock WHERE product_id = ANY(${productIds}::uuid[]) ORDER BY product_id FOR SHARE) l`;
    return tx.$queryRaw<StockRow[]>`
      SELECT s.product_id::text, s.available + COALESCE(sum(m.available), 0)::int AS available,
             s.reserved + COALESCE(sum(m.reserved), 0)::int AS reserved, s.sold + COALESCE(sum(m.sold), 0)::int AS sold
      FROM stock s LEFT JOIN stock_moves m ON m.product_id = s.product_id
      WHERE s.product_id = ANY(${productIds}::uuid[])
      GROUP BY s.product_id ORDER BY s.product_id`;
  }

  /**
   * Open regular orders holding units of any of `productIds` (all open regular orders when null). Read after
   * `lockRows`: an order holding units of a locked product can be neither written nor settled until the commit.
   */
  const openOrders = (tx: Tx, productIds: readonly string[] | null) => tx.$queryRaw<OpenOrder[]>`
    SELECT o.id::text, o.user_id, o.status::text AS status, o.request_hash, o.reserved_until,
           (SELECT json_agg(json_build_array(i.product_id::text, i.quantity) ORDER BY i.product_id)
            FROM order_items i WHERE i.order_id = o.id) AS items
    FROM orders o
    WHERE o.status IN ('RESERVED', 'PAID') AND o.flash_sale_id IS NULL
      AND (${productIds === null}::boolean
           OR EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id AND i.product_id = ANY(${productIds ?? []}::uuid[])))
    ORDER BY o.user_id, o.id`;

  async function run(
    idx: string,
    payload: {
      products?: StockRow[];
      loaded?: string[];
      orders: OpenOrder[];
      /** Orders restored even if they hold units of no counter loaded by this call; the others only if they do. */
      forced?: string[];
      holders?: boolean;
      setMarker?: boolean;
    },
  ): Promise<{ loaded: string[]; restored: number; counters: Map<string, StockSnapshot> }> {
    const marker = restoredMarkerKey(idx);
    const holderOf = (o: OpenOrder) => heldUnitsKey(idx, o.user_id);
    const orders = payload.orders.map((o) => [
      o.id,
      o.request_hash,
      String(o.reserved_until.getTime()),
      holderOf(o),
      o.status === "RESERVED" ? o.items.reduce((sum, [, q]) => sum + q, 0) : 0,
      o.items,
    ]);
    const holders = new Map<string, string[]>();
    if (payload.holders) for (const o of payload.orders) holders.set(holderOf(o), [...(holders.get(holderOf(o)) ?? []), o.id]);
    const productIds = new Set([...(payload.products ?? []).map((p) => p.product_id), ...payload.orders.flatMap((o) => o.items.map(([p]) => p))]);
    const keys = [
      idx,
      marker,
      ...[...productIds].map((p) => `{stock}:${p}`),
      ...payload.orders.map((o) => reservationKey(o.id)),
      ...new Set(payload.orders.map(holderOf)),
    ];
    const args = {
      index: idx,
      marker,
      setMarker: payload.setMarker ?? false,
      at: String(Date.now()),
      products: (payload.products ?? []).map((p) => [p.product_id, p.available, p.reserved, p.sold]),
      loaded: payload.loaded ?? [],
      orders,
      forced: payload.forced ?? [],
      holders: [...holders],
      holderTtl,
    };
    const reply = JSON.parse(String(await script(keys, [JSON.stringify(args)]))) as RebuildReply;
    const counters = new Map<string, StockSnapshot>();
    for (const [productId, [available, reserved, sold]] of Object.entries(reply.counters))
      counters.set(productId, { productId, available, reserved, sold });
    return { loaded: Array.isArray(reply.loaded) ? reply.loaded : [], restored: reply.restored, counters };
  }

  /**
   * Copies PostgreSQL's counters into Redis for the products Redis has no counters of, and restores the
   * reservations of the open orders holding their units. Returns the counters as Redis now has them.
   * A restock (row updated, then Redis, then commit) is wholly before this or applies its delta after it.
   */
  async function loadProducts(productIds: string[]): Promise<Map<string, StockSnapshot>> {
    return prisma.$transaction(async (tx) => {
      const rows = await lockRows(tx, productIds);
      const orders = rows.length > 0 ? await openOrders(tx, productIds) : [];
      return (await run(await indexOf(tx), { products: rows, orders })).counters;
    }, REBUILD_TX);
  }

  /**
   * placeOrder wrote this order but Redis no longer has its reservation (Redis lost its data between the
   * reservation and the write, or a retry's duplicate reservation was given back): restores it, adding the order's
   * units to counters loaded before the order was written. Nothing when the order is not open or Redis has it.
   * The order's counters Redis does not have are loaded here from the locked rows, which count every open order
   * holding units of them: so those orders are restored (or taken off `pending`) in the same step, exactly as
   * `loadProducts` would, or their settlement would later move nothing in Redis while PostgreSQL moves their units.
   */
  async function restoreOrder(orderId: string): Promise<boolean> {
    return prisma.$transaction(async (tx) => {
      const items = await tx.$queryRaw<{ product_id: string }[]>`
        SELECT product_id::text FROM order_items WHERE order_id = ${orderId}::uuid`;
      const productIds = items.map((i) => i.product_id);
      const rows = await lockRows(tx, productIds);
      const orders = rows.length > 0 ? await openOrders(tx, productIds) : [];
      if (!orders.some((o) => o.id === orderId)) return false;
      return (await run(await indexOf(tx), { products: rows, orders, forced: [orderId] })).restored > 0;
    }, REBUILD_TX);
  }

  /**
   * After Redis lost everything, or a failover lost its last writes (the restored marker is gone: deleted by the
   * failover check, lua/order_failover_check.lua): loads the counters of every product open regular orders hold
   * that Redis lacks, restores every open order's reservation Redis lacks (its units are taken from counters Redis
   * kept, since a reservation and its counter moves are one script, lost together) and every buyer's held-units
   * counter, then sets the marker.
   * Run in chunks of whole users, so a buyer's counter is set from all of their orders at once; one run at a time
   * per process (concurrent callers share it). Idempotent: a second run, here or in another process, finds
   * everything present and changes nothing.
   */
  function restoreAll(): Promise<void> {
    fullRebuild ??= prisma
      .$transaction(async (tx) => {
        const idx = await indexOf(tx);
        await lockStockForRebuild(tx, "all");
        const products = await tx.$queryRaw<{ product_id: string }[]>`
          SELECT DISTINCT i.product_id::text FROM orders o JOIN order_items i ON i.order_id = o.id
          WHERE o.status IN ('RESERVED', 'PAID') AND o.flash_sale_id IS NULL`;
        const ids = products.map((p) => p.product_id);
        const rows = await lockRows(tx, ids, "all");
        const orders = ids.length > 0 ? await openOrders(tx, ids) : [];
        const chunks = chunkByUser(orders, FULL_REBUILD_CHUNK);
        let loaded: string[] = [];
        for (let i = 0; i < chunks.length; i++) {
          const first = i === 0;
          const result = await run(idx, {
            products: first ? rows : [],
            loaded,
            orders: chunks[i]!,
            forced: chunks[i]!.map((o) => o.id),
            holders: true,
            setMarker: i === chunks.length - 1,
          });
          if (first) loaded = result.loaded;
        }
      }, REBUILD_TX)
      .finally(() => {
        fullRebuild = null;
      });
    return fullRebuild;
  }

  return { loadProducts, restoreOrder, restoreAll };
}

/** Orders (sorted by user) in chunks of about `size`, never splitting one user's orders; at least one chunk. */
function chunkByUser(orders: OpenOrder[], size: number): OpenOrder[][] {
  const chunks: OpenOrder[][] = [[]];
  for (const [i, order] of orders.entries()) {
    const current = chunks[chunks.length - 1]!;
    if (current.length >= size && orders[i - 1]?.user_id !== order.user_id) chunks.push([order]);
    else current.push(order);
  }
  return chunks;
}

export type StockRebuild = ReturnType<typeof createStockRebuild>;
