// The fence between a flash purchase that gave up on its event and the order writer that gets the event after
// all (docs/flash-sales.md, Unknown outcomes): both sides run a script on the reservation, and the first wins.
// After a Redis loss it also accounts for purchases the reload could not see (Warm-up and what Redis loss means).

import type { Redis } from "ioredis";
import { defineScript } from "../redis.ts";
import type { FlashOrderPlaced } from "../events.ts";
import { encodePointer, flashPointerTtlSeconds, itemKeys, orderPointerKey, saleChannel } from "./flash-keys.ts";

type Attempt = Pick<
  FlashOrderPlaced,
  "orderId" | "saleId" | "productId" | "createdAt" | "requestHash" | "userId" | "quantity" | "unitPriceCents" | "reservedUntil" | "idempotencyKey"
>;

/** `cancelReason` of a flash order refused by the fence: accepted before a Redis loss, and the reloaded sale had no units left for it. */
export const FLASH_SOLD_OUT_REASON = "flash_sale_sold_out";

/** What the fence decided for a set of orders (each order in at most one list; the rest are skipped). */
export interface FenceOutcome<T> {
  /** Write as RESERVED orders (durable now, written before, or adopted into an item reloaded after a Redis loss). */
  write: T[];
  /** Write as CANCELLED (`FLASH_SOLD_OUT_REASON`): adoption was refused, the reloaded item had too few units. */
  cancel: T[];
  /** Neither item nor reservation in Redis: reload the item, then ask again (only without `writeUnloaded`). */
  unloaded: T[];
}

export interface FlashFenceOptions {
  /** RESERVATION_TOMBSTONE_SECONDS, for the tombstone of a refused order (default 259 200, the setting's default). */
  tombstoneSeconds?: number;
}

const VERDICT_WRITE = 1;
const VERDICT_ADOPTED = 2;
const VERDICT_REFUSED = 3;
const VERDICT_UNLOADED = 4;

/**
 * lua/flash_fence.lua per sale item: which of these orders may be written. An admitted order's reservation is
 * marked durable, so the purchase can no longer take it back; a skipped one was taken back (its units returned)
 * before anything wrote it, and must never become an order. An order whose reservation Redis lost is adopted
 * into its reloaded item (units taken) or refused (written CANCELLED); the adopted or refused order's pointer
 * is set again, so the order subgraph finds its reservation.
 */
export function createFlashFence(redis: Redis, options: FlashFenceOptions = {}) {
  const fenceScript = defineScript(redis, "flash_fence");
  const tombstoneSeconds = options.tombstoneSeconds ?? 259_200;
  const pointerTtl = flashPointerTtlSeconds(tombstoneSeconds);

  async function decideItem<T extends Attempt>(group: T[], writeUnloaded: boolean): Promise<number[]> {
    const { saleId, productId } = group[0]!;
    const k = itemKeys(saleId, productId);
    const verdicts = (await fenceScript(
      [k.item, k.users, k.expiry, ...group.map((o) => k.reservation(o.orderId))],
      [
        saleChannel(saleId),
        tombstoneSeconds,
        writeUnloaded ? "1" : "0",
        ...group.flatMap((o) => [
          Date.parse(o.createdAt),
          o.requestHash,
          o.orderId,
          o.userId,
          o.quantity,
          o.unitPriceCents,
          Date.parse(o.reservedUntil),
          o.idempotencyKey,
        ]),
      ],
    )) as number[];
    const restored = group.filter((_, i) => verdicts[i] === VERDICT_ADOPTED || verdicts[i] === VERDICT_REFUSED);
    // Each pointer is on a slot of its own (a Redis Cluster spreads them over nodes), so they are sent together as
    // separate commands, not as one pipeline: one round trip on one server, one per node on a cluster.
    await Promise.all(
      restored.map((o) =>
        redis.set(orderPointerKey(o.orderId), encodePointer({ saleId, productId, requestHash: o.requestHash }), "EX", pointerTtl, "NX"),
      ),
    );
    return verdicts;
  }

  /**
   * The fence's decision for each order. `writeUnloaded(saleId, productId)`: true for items whose sale is no
   * longer live (never reloaded), whose orders are written as before when Redis has neither item nor reservation.
   */
  async function decide<T extends Attempt>(orders: readonly T[], writeUnloaded: (saleId: string, productId: string) => boolean = () => false) {
    const byItem = new Map<string, T[]>();
    for (const o of orders) {
      const item = `${o.saleId} ${o.productId}`;
      const group = byItem.get(item);
      if (group) group.push(o);
      else byItem.set(item, [o]);
    }
    const outcome: FenceOutcome<T> = { write: [], cancel: [], unloaded: [] };
    const decided = await Promise.all(
      [...byItem.values()].map(async (group) => ({ group, verdicts: await decideItem(group, writeUnloaded(group[0]!.saleId, group[0]!.productId)) })),
    );
    const verdictOf = new Map<T, number>();
    for (const { group, verdicts } of decided) group.forEach((o, i) => verdictOf.set(o, verdicts[i] ?? 0));
    for (const o of orders) {
      const v = verdictOf.get(o);
      if (v === VERDICT_WRITE || v === VERDICT_ADOPTED) outcome.write.push(o);
      else if (v === VERDICT_REFUSED) outcome.cancel.push(o);
      else if (v === VERDICT_UNLOADED) outcome.unloaded.push(o);
    }
    return outcome;
  }

  /** The orders that may be written as RESERVED (the others are skipped, refused or wait for their item's reload). */
  async function admit<T extends Attempt>(orders: readonly T[]): Promise<T[]> {
    return (await decide(orders)).write;
  }

  return Object.assign(admit, { decide });
}

export type FlashFence = ReturnType<typeof createFlashFence>;
