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
  return expiryIndexOfDatabase(decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, "")) || "postgres");
}

/** The expiry index of the orders in the database named `database` (as PostgreSQL's `current_database()` says). */
export const expiryIndexOfDatabase = (database: string) => `${DEFAULT_EXPIRY_INDEX}:${database}`;

/**
 * Present once Redis holds everything lua/stock_rebuild.lua rebuilds from PostgreSQL for this expiry index (the
 * reservations of open orders, the held-units counters). It has no TTL, so only a loss of Redis's data removes it;
 * while it is absent order_reserve.lua refuses to count (`not_restored`) and placeOrder runs the rebuild first.
 */
export const restoredMarkerKey = (expiryIndex: string) => `${expiryIndex}:restored`;

/**
 * On a Redis Cluster, the id of the node the restored marker was last vouched for on (lua/order_failover_check.lua):
 * a master that is not that node was promoted after a failover, and may have lost the last writes of its predecessor.
 */
export const restoredOnKey = (expiryIndex: string) => `${expiryIndex}:restored-on`;

/** Hash of one regular order's reservation: items, state, request hash, expiry. */
export const reservationKey = (orderId: string) => `{stock}:reservation:${orderId}`;

/**
 * The counter of units one user holds in RESERVED regular orders (the RESERVATION_MAX_UNITS_PER_USER cap),
 * scoped by the expiry index like everything else one environment sweeps, so environments sharing a Redis (and
 * test stacks sharing a database) count separately. It shares the `{stock}` hash tag, so order_reserve.lua checks
 * and moves it in the same atomic step as the stock. On a Redis Cluster that works only because every regular
 * stock key is on that one slot already; stock sharded by product could not share a tag with the user (docs/orders.md).
 */
export const heldUnitsKey = (expiryIndex: string, userId: string) => `${expiryIndex}:held-units:${userId}`;

/** The registry of flash items' expiry sets that goes with an order expiry index: one per database in production, one per stack in tests. */
export const flashRegistryFor = (orderExpiryIndex: string) => `${orderExpiryIndex}:flash-items`;
