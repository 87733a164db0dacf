import type { Logger } from "../../../common/logger.ts";
import type { LeadingScript } from "../../../common/replicated-scripts.ts";
import { restoredMarkerKey, restoredOnKey } from "../../../common/orders/reservation-keys.ts";

// Failover detection for regular stock (lua/order_failover_check.lua; docs/scale-out.md, "A master fails"). On a
// Redis Cluster every pipeline of reservations (reservations.ts) starts with this check, on the node that runs
// them: when that node is not the master the restored marker was vouched for on, a replica was promoted and may
// lack its predecessor's last writes, so the check deletes the marker, and the reservations after it answer
// `not_restored` until placeOrder has rebuilt counters and reservations from PostgreSQL (restoreAll).
//
// Why in Redis rather than on ioredis's `+node`/`-node`/`refresh` events: a process learns the new slot owner from
// a refresh or from a MOVED answer, and after a MOVED ioredis sends the command again at once, before any event
// handler could delete the marker; the check travels in the same pipeline as the reservations (a retried pipeline
// is sent again whole), so no reservation runs on a promoted node before it.

/** The check for the reservations of `expiryIndex`; `logger` hears of each failover this process detects first. */
export function failoverCheck(expiryIndex: string, logger?: Logger): LeadingScript {
  return {
    name: "order_failover_check",
    keys: [restoredMarkerKey(expiryIndex), restoredOnKey(expiryIndex)],
    args: [],
    onReply: (reply) => {
      if (reply === "changed")
        logger?.warn(
          { expiryIndex },
          "the {stock} slot has a new master (failover): counters and reservations will be rebuilt from PostgreSQL before the next reservation",
        );
    },
  };
}
