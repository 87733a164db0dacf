import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { runConsumer } from "../../../common/kafka/consumer.ts";
import { groupName } from "./groups.ts";
import type { Logger } from "../../../common/logger.ts";
import type { OrderStatusName } from "../../../common/events.ts";
import type { Transitions } from "./transitions.ts";

export const RESERVATION_SETTLEMENT = "order-reservation-settlement";

/** The statuses whose Redis side is a settlement script (release, confirm, unhold); RESERVED has none. */
const SETTLED: ReadonlySet<OrderStatusName> = new Set(["PAID", "CONFIRMED", "CANCELLED", "EXPIRED"]);

export interface ReservationSettlementDeps {
  ctx: KafkaContext;
  producer: Producer;
  logger: Logger;
  transitions: Transitions;
}

/**
 * Settles the Redis reservation of every committed status change, from the change's own OrderStatusChanged event.
 * The process that commits a transition settles Redis right after (transitions.ts), but a kill -9 or a cut
 * connection between the commit and that step would leave the units reserved in Redis until the reservation's
 * expiry. The event is in the outbox of the same transaction, so it always arrives; the settlement scripts move
 * units once per reservation, so settling again after the committing process did is a no-op. A Redis failure
 * throws, and the consumer retries it (transient) instead of leaving the units held.
 */
export function startReservationSettlement({ ctx, producer, logger, transitions }: ReservationSettlementDeps) {
  const settle = async (event: { type: string; data: unknown }) => {
    if (event.type !== "OrderStatusChanged") return;
    // Malformed events are notifications' to dead-letter (it parses every order event); only the two fields used here are read.
    const order = (event.data as { order?: { id?: unknown; status?: unknown } }).order;
    if (typeof order?.id !== "string" || !SETTLED.has(order.status as OrderStatusName)) return;
    await transitions.settle(order.id, order.status as OrderStatusName);
  };
  return runConsumer({
    ctx,
    producer,
    groupId: groupName(ctx, RESERVATION_SETTLEMENT),
    topics: ["order"],
    logger,
    // Most order events are RESERVED (skipped here): large batches cost nothing, and a settlement the committing
    // process already made is only repeated. Up to 100 ms later when that process died.
    lingerMs: 100,
    handleBatch: async (events) => {
      for (const event of events) await settle(event);
    },
    handle: settle,
  });
}
