import type { z } from "zod";
import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { runConsumer } from "../../../common/kafka/consumer.ts";
import { groupName } from "./groups.ts";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import type { OrderEvent, OrderSnapshot } from "../../../common/events.ts";
import { orderStatusChanged, parseEventData } from "./event-data.ts";
import { markAllProcessed, processedAmong } from "../../../common/processed.ts";
import type { Mailer } from "./mailer.ts";
import { createBatching } from "../../../common/batching.ts";

export const NOTIFICATIONS = "notifications";

export interface NotificationsDeps {
  ctx: KafkaContext;
  producer: Producer;
  prisma: PrismaClient;
  logger: Logger;
  mailer: Mailer;
  /** Buyers' addresses are `<user id>@<recipientDomain>` until there is a user directory. */
  recipientDomain: string;
}

type Snapshot = Pick<OrderSnapshot, "id" | "status" | "items" | "totalCents" | "currency" | "reservedUntil" | "cancelReason">;

const money = (cents: number, currency: string) => `${(cents / 100).toFixed(2)} ${currency}`;

const SUBJECTS: Record<OrderSnapshot["status"], (o: Snapshot) => string> = {
  RESERVED: (o) => `Order ${o.id.slice(0, 8)} reserved: pay before ${o.reservedUntil}`,
  PAID: (o) => `Payment received for order ${o.id.slice(0, 8)}`,
  CONFIRMED: (o) => `Order ${o.id.slice(0, 8)} confirmed`,
  CANCELLED: (o) => `Order ${o.id.slice(0, 8)} cancelled${o.cancelReason ? ` (${o.cancelReason.replace(/_/g, " ")})` : ""}`,
  EXPIRED: (o) => `Order ${o.id.slice(0, 8)} expired: it was not paid in time`,
};

export function composeOrderMail(order: Snapshot): { subject: string; text: string } {
  const lines = order.items.map((i) => `  ${i.quantity} x product ${i.productId} at ${money(i.unitPriceCents, order.currency)}`);
  const text = [`Order ${order.id}`, `Status: ${order.status}`, "", ...lines, "", `Total: ${money(order.totalCents, order.currency)}`, ""].join("\n");
  return { subject: SUBJECTS[order.status](order), text };
}

type OrderChange = z.infer<typeof orderStatusChanged>;

/**
 * Mails the buyer on every order status change. Its own consumer group: a slow or failing mail server delays
 * only mail (retries with backoff, then the dead-letter topic) and never an order. The processed id is
 * recorded after sending, so a crash in between sends once more (at least once, like any mail system).
 */
export function startNotifications({ ctx, producer, prisma, logger, mailer, recipientDomain }: NotificationsDeps) {
  const mailOf = (order: OrderChange["order"], eventId: string) => {
    const { subject, text } = composeOrderMail(order);
    return {
      to: `${order.userId.replace(/[^A-Za-z0-9._+-]/g, "_")}@${recipientDomain}`,
      subject,
      text,
      id: `${order.id}-${order.status.toLowerCase()}-${eventId}`,
    };
  };
  const mailAll = async (events: OrderEvent[]) => {
    const changes = events
      .filter((e) => e.type === "OrderStatusChanged")
      .map((e) => ({ id: e.id, order: parseEventData(orderStatusChanged, e).order }));
    const done = await processedAmong(
      prisma,
      NOTIFICATIONS,
      changes.map((c) => c.id),
    );
    const todo = changes.filter((c) => !done.has(c.id));
    await mailer.sendAll(todo.map((c) => mailOf(c.order, c.id)));
    await markAllProcessed(
      prisma,
      NOTIFICATIONS,
      todo.map((c) => c.id),
    );
  };
  // runConsumer hands over each partition's batch on its own, several at once: those that arrive together share
  // one lookup, one insert and one hand-over to the mailer (an error fails them all, and each is handled again).
  const mailTogether = createBatching<OrderEvent[], void>(async (batches) => {
    await mailAll(batches.flat());
    return batches.map(() => undefined);
  });
  return runConsumer({
    ctx,
    producer,
    groupId: groupName(ctx, NOTIFICATIONS),
    topics: ["order"],
    logger,
    // One lookup and one insert per fetched batch instead of two round trips per mail (a sale's burst of
    // orders). A malformed event fails its batch; runConsumer then runs `handle` per event, which
    // dead-letters just that one.
    handleBatch: mailTogether,
    handle: (event) => mailAll([event]),
    lingerMs: 200, // a mail up to a fifth of a second later under load, for batches that make the above pay off
  });
}
