// The Redis layout of a flash-sale item and the order pointer: the flash-sale subgraph writes them on purchase,
// the order process follows the pointer to release, confirm or expire a flash order's reservation.

/**
 * Redis layout of flash sales. Every key of ONE sale item carries the hash tag `{fs:<saleId>:<productId>}`, so
 * the purchase script, which touches all of them, runs on one Redis Cluster slot; items of one sale may live
 * on different nodes. The order pointer is on its own slot and is never touched by a script.
 */
export function itemKeys(saleId: string, productId: string) {
  const tag = `{fs:${saleId}:${productId}}`;
  return {
    /** Hash: remaining, sold, confirmed, quantity, price, currency, limit, window, ended, token bucket, version, drains. */
    item: `${tag}:item`,
    /** Hash: user id -> units the buyer holds or bought (released units are taken off again). */
    users: `${tag}:users`,
    /** Sorted set: order id by reservation expiry (epoch ms), swept by the order subgraph. */
    expiry: `${tag}:expiry`,
    /** Hash: one purchase's reservation; kept as a tombstone once settled, which makes retries idempotent. */
    reservation: (orderId: string) => `${tag}:r:${orderId}`,
  };
}

/**
 * `<saleId> <productId> <requestHash>` of a flash order, by order id: how the order subgraph finds a flash
 * order's reservation (release, confirm, expiry) and its not-yet-written snapshot, and the idempotency guard
 * that spans sale items (one key may name one purchase only).
 */
export const orderPointerKey = (orderId: string) => `fs:order:${orderId}`;

/** How long an order pointer is kept: at least a day, and as long as a settled reservation's tombstone. */
export const flashPointerTtlSeconds = (tombstoneSeconds: number) => Math.max(86_400, tombstoneSeconds);

/** Pub/sub channel of one sale's live changes: messages `<productId> <remaining> <version> <ended 0|1>`. */
export const saleChannel = (saleId: string) => `fs:changes:${saleId}`;

export interface OrderPointer {
  saleId: string;
  productId: string;
  requestHash: string;
}

export const encodePointer = (p: OrderPointer) => `${p.saleId} ${p.productId} ${p.requestHash}`;

export function decodePointer(value: string | null): OrderPointer | null {
  if (!value) return null;
  const [saleId, productId, requestHash] = value.split(" ");
  return saleId && productId && requestHash ? { saleId, productId, requestHash } : null;
}
