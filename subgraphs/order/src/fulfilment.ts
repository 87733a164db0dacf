import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { runConsumer } from "../../../common/kafka/consumer.ts";
import { groupName } from "./groups.ts";
import type { Logger } from "../../../common/logger.ts";
import type { OrderEvent } from "../../../common/events.ts";
import { orderStatusChanged, parseEventData } from "./event-data.ts";
import { markProcessed } from "../../../common/processed.ts";
import { Transition, type Transitions } from "./transitions.ts";

export const FULFILMENT = "order-fulfilment";

export interface FulfilmentDeps {
  ctx: KafkaContext;
  producer: Producer;
  logger: Logger;
  transitions: Transitions;
}

/**
 * PAID -> CONFIRMED: commits the order's stock (reserved -> sold) in PostgreSQL, then in Redis. Driven by the
 * PAID event rather than done right after the payment, so a crash between the two steps is finished by the
 * redelivered event; a redelivery after the commit only repeats the idempotent Redis step.
 */
export function startFulfilment({ ctx, producer, logger, transitions }: FulfilmentDeps) {
  const fulfil = async (event: OrderEvent) => {
    // Most order events are not PAID: skip them before the full parse. Notifications reads every order
    // event and dead-letters malformed ones, so nothing is lost by not parsing them here.
    if (event.type !== "OrderStatusChanged" || (event.data as { order?: { status?: unknown } }).order?.status !== "PAID") return;
    const { order } = parseEventData(orderStatusChanged, event);
    const result = await transitions.inTransaction(async ({ tx, apply }) =>
      (await markProcessed(tx, FULFILMENT, event.id)) ? apply(order.id, Transition.confirm()) : null,
    );
    if (result?.changed) return;
    if (result?.order?.status === "CONFIRMED" || result === null) await transitions.settleReservation(order.id, "CONFIRMED");
  };
  return runConsumer({
    ctx,
    producer,
    groupId: groupName(ctx, FULFILMENT),
    topics: ["order"],
    logger,
    // Nearly every order event is skipped here: fetch them in large batches (PAID -> CONFIRMED up to 100 ms later).
    lingerMs: 100,
    // A fetched batch at once: its few PAID events in order, without runConsumer's per-event bookkeeping for the
    // many it skips. A failure that is not transient hands the batch to `handle`, event by event.
    handleBatch: async (events) => {
      for (const event of events) await fulfil(event);
    },
    handle: fulfil,
  });
}
