// Redis names of order reservations. The order subgraph writes and sweeps them; the flash-sale subgraph checks
// that a key is not a regular order's and registers its items' expiry sets where the order sweeper looks.

/**
 * The expiry index when none is configured. Every regular reservation key shares the `{stock}` hash tag of the
 * stock counters, so a whole order is one script on one Cluster slot.
 */
export const DEFAULT_EXPIRY_INDEX = "{stock}:reservations:expiry";

/**
 * The expiry index of the orders in one database. Development, test and benchmark databases often share a
 * Redis; a sweeper must only ever see reservations whose orders it can look up, or it would release another
 * environment's live reservations as orphans.
 */
export function expiryIndexFor(databaseUrl: string): string {
  const database = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, "")) || "postgres";
  return `${DEFAULT_EXPIRY_INDEX}:${database}`;
}

/** Hash of one regular order's reservation: items, state, request hash, expiry. */
export const reservationKey = (orderId: string) => `{stock}:reservation:${orderId}`;

/** The registry of flash items' expiry sets that goes with an order expiry index: one per database in production, one per stack in tests. */
export const flashRegistryFor = (orderExpiryIndex: string) => `${orderExpiryIndex}:flash-items`;
