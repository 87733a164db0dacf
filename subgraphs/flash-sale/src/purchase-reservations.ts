// The flash-sale subgraph's side of its reservations: it takes back a purchase it could not complete, and
// registers every item's expiry set where the order process's sweeper looks for due flash orders.

import type { Redis } from "ioredis";
import { itemKeys } from "../../../common/orders/flash-keys.ts";
import { createFlashRelease } from "../../../common/orders/flash-release.ts";

export interface PurchaseReservationOptions {
  /**
   * Sorted set of the items' expiry indexes (score: the sale's endsAt) that the order sweeper reads
   * (flashRegistryFor the order expiry index). One per database, like the order expiry index.
   */
  registry: string;
  /** RESERVATION_TOMBSTONE_SECONDS. */
  tombstoneSeconds: number;
}

export function createPurchaseReservations(redis: Redis, options: PurchaseReservationOptions) {
  const { release, releaseAt } = createFlashRelease(redis, { tombstoneSeconds: options.tombstoneSeconds });
  return {
    release,
    releaseAt,
    /** Makes the sweeper look at an item's expiry index until a day past the sale's end. */
    register: (saleId: string, productId: string, endsAtMs: number) => redis.zadd(options.registry, endsAtMs, itemKeys(saleId, productId).expiry),
  };
}

export type PurchaseReservations = ReturnType<typeof createPurchaseReservations>;
