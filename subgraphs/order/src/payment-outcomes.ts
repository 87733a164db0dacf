import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { PermanentEventError } from "../../../common/kafka/retry.ts";
import { runConsumer } from "../../../common/kafka/consumer.ts";
import { groupName } from "./groups.ts";
import type { Logger } from "../../../common/logger.ts";
import { parseEventData, paymentFailed, paymentSucceeded } from "./event-data.ts";
import { requestRefund } from "./payments.ts";
import { markProcessed } from "../../../common/processed.ts";
import { Transition, type Transitions } from "./transitions.ts";

export const PAYMENT_OUTCOMES = "order-payments";

export interface PaymentOutcomesDeps {
  ctx: KafkaContext;
  producer: Producer;
  logger: Logger;
  transitions: Transitions;
  now: () => number;
}

/**
 * The order side of the saga. PaymentSucceeded moves a RESERVED order to PAID (the fulfilment consumer then
 * confirms it) while it is live or its payment's hold lasts (PAYMENT_HOLD_SECONDS past reservedUntil: the sweeper
 * does not expire it meanwhile); money for an order that lapsed past the hold or ended first is not kept: the
 * order stays (or becomes) EXPIRED/CANCELLED and a refund is requested, once per payment (REFUND_REQUESTED is
 * set only from SUCCEEDED), which the payment worker carries out through the provider. PaymentFailed cancels
 * with "payment_declined" and returns the stock.
 */
export function startPaymentOutcomes({ ctx, producer, logger, transitions, now }: PaymentOutcomesDeps) {
  async function onSucceeded(eventId: string, data: { paymentId: string; orderId: string }) {
    await transitions.inTransaction(async ({ tx, apply }) => {
      if (!(await markProcessed(tx, PAYMENT_OUTCOMES, eventId))) return;
      const at = new Date(now());
      const paid = await apply(data.orderId, Transition.markPaid(at));
      if (paid.changed) return;
      if (!paid.order) throw new PermanentEventError(`order ${data.orderId} does not exist`);
      let status = paid.order.status;
      if (status === "PAID" || status === "CONFIRMED") return; // another success for the same order
      if (status === "RESERVED") status = (await apply(data.orderId, Transition.expire(at))).order?.status ?? status;
      await requestRefund(tx, data.paymentId, status === "CANCELLED" ? "order_cancelled" : "order_expired");
    });
  }

  async function onFailed(eventId: string, data: { orderId: string }) {
    await transitions.inTransaction(async ({ tx, apply }) => {
      if (!(await markProcessed(tx, PAYMENT_OUTCOMES, eventId))) return;
      await apply(data.orderId, Transition.declinePayment()); // no change when it expired or was cancelled first
    });
  }

  return runConsumer({
    ctx,
    producer,
    groupId: groupName(ctx, PAYMENT_OUTCOMES),
    topics: ["payment"],
    logger,
    handle: async (event) => {
      if (event.type === "PaymentSucceeded") await onSucceeded(event.id, parseEventData(paymentSucceeded, event));
      else if (event.type === "PaymentFailed") await onFailed(event.id, parseEventData(paymentFailed, event));
    },
  });
}
