import { Repeater } from "@repeaterjs/repeater";
import type { EventHub } from "../../../common/event-hub.ts";
import type { OrderSnapshot } from "../../../common/events.ts";

/**
 * `orderStatusChanged`: one event per transition, in order (an order's events share a Kafka partition),
 * each once (Kafka delivers at least once, so event ids already sent are skipped). The listener is in
 * place before the caller returns, so a transition right after subscribing is not missed.
 */
export function createOrderStatusChanges(hub: EventHub<"order">) {
  return function subscribe(orderId: string): AsyncIterable<OrderSnapshot> {
    const seen = new Set<string>();
    const early: OrderSnapshot[] = [];
    let sink = (order: OrderSnapshot) => void early.push(order);
    const stopListening = hub.on("order", orderId, (event) => {
      if (seen.has(event.id)) return;
      seen.add(event.id);
      sink(event.data.order);
    });
    return new Repeater<OrderSnapshot>(async (push, stop) => {
      for (const order of early) void push(order);
      sink = (order) => void push(order);
      await stop;
      stopListening();
    });
  };
}

export type OrderStatusChanges = ReturnType<typeof createOrderStatusChanges>;
