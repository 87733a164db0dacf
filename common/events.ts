import { randomUUID } from "node:crypto";

/**
 * Every event on Kafka: an id (consumers deduplicate on it), a type, a schema version and the id of
 * the aggregate it is about, which is also the message key (so one aggregate's events stay in order).
 */
export interface EventEnvelope<TType extends string = string, TData = unknown> {
  id: string;
  type: TType;
  version: number;
  aggregateId: string;
  occurredAt: string;
  data: TData;
}

export interface StockSnapshot {
  productId: string;
  available: number;
  reserved: number;
  sold: number;
}

/** A committed stock row; `version` grows by one with every change to the row (a database trigger). */
export interface VersionedStock extends StockSnapshot {
  version: number;
}

export type ProductEvent =
  | EventEnvelope<"ProductCreated", { productId: string; sku: string; name: string; priceCents: number; currency: string }>
  | EventEnvelope<"ProductPriceChanged", { productId: string; priceCents: number; priceVersion: number }>;

export type InventoryEvent = EventEnvelope<
  "StockChanged",
  VersionedStock & {
    /** `orders`: the regular orders' moves of one batch of the stock journal, `delta` their net change of `available`. */
    reason: "created" | "restock" | "orders" | "transfer";
    delta: number;
  }
>;

export type StockChangeReason = InventoryEvent["data"]["reason"];

/** The event for a committed stock row change (values and version from the row, e.g. `UPDATE ... RETURNING`). */
export function stockChanged(row: VersionedStock, reason: StockChangeReason, delta: number): InventoryEvent {
  const { productId, available, reserved, sold, version } = row;
  return createEvent<InventoryEvent>("StockChanged", productId, { productId, available, reserved, sold, version, reason, delta });
}

export type OrderStatusName = "RESERVED" | "PAID" | "CONFIRMED" | "CANCELLED" | "EXPIRED";

/** The whole order as committed, so consumers (notifications, subscriptions) never read it back. */
export interface OrderSnapshot {
  id: string;
  userId: string;
  status: OrderStatusName;
  items: { productId: string; quantity: number; unitPriceCents: number }[];
  totalCents: number;
  currency: string;
  reservedUntil: string;
  cancelReason: string | null;
  flashSaleId: string | null;
  createdAt: string;
  updatedAt: string;
}

/** One event per status change (placing an order is the change to RESERVED, from `null`). Key: the order id. */
export type OrderEvent = EventEnvelope<"OrderStatusChanged", { order: OrderSnapshot; previousStatus: OrderStatusName | null }>;

/** The payment saga. Key: the order id, so one order's payment events stay in order. */
export type PaymentEvent =
  | EventEnvelope<
      "PaymentRequested",
      { paymentId: string; orderId: string; userId: string; amountCents: number; currency: string; paymentToken: string }
    >
  | EventEnvelope<"PaymentSucceeded", { paymentId: string; orderId: string; providerRef: string }>
  | EventEnvelope<"PaymentFailed", { paymentId: string; orderId: string; reason: string }>
  | EventEnvelope<"PaymentRefundRequested", { paymentId: string; orderId: string; amountCents: number; currency: string; reason: string }>
  /** The provider paid a REFUND_REQUESTED payment back (once per payment; `refundRef` is the provider's id). */
  | EventEnvelope<"PaymentRefunded", { paymentId: string; orderId: string; amountCents: number; currency: string; refundRef: string }>;

export type FlashSaleStateName = "SCHEDULED" | "ACTIVE" | "ENDED";

/** A flash sale was created or ended (`returned`: units that went back to regular stock so far). Key: the sale id. */
export type FlashSaleEvent = EventEnvelope<
  "FlashSaleChanged",
  { saleId: string; state: FlashSaleStateName; reason: "created" | "ended"; items: { productId: string; quantity: number; returned: number }[] }
>;

/** A purchase the flash-sale script took in Redis, for the consumer that writes it to PostgreSQL. */
export interface FlashOrderPlaced {
  orderId: string;
  userId: string;
  idempotencyKey: string;
  requestHash: string;
  saleId: string;
  productId: string;
  quantity: number;
  unitPriceCents: number;
  currency: string;
  reservedUntil: string;
  createdAt: string;
}

/** Key: the product id, so one product's purchases stay in order on one partition (FIFO per product, seed 003). */
export type FlashOrderEvent = EventEnvelope<"FlashOrderPlaced", FlashOrderPlaced>;

/** Topic name (before `KAFKA_TOPIC_PREFIX`) -> the events it carries. Keys: the aggregate id. */
export interface TopicEvents {
  product: ProductEvent;
  inventory: InventoryEvent;
  order: OrderEvent;
  payment: PaymentEvent;
  "flash-sale": FlashSaleEvent;
  "flash-order": FlashOrderEvent;
}

export type TopicName = keyof TopicEvents;
export const TOPICS = ["product", "inventory", "order", "payment", "flash-sale", "flash-order"] as const satisfies readonly TopicName[];

export function dlqTopic(topic: string): string {
  return `${topic}.dlq`;
}

export function createEvent<E extends EventEnvelope>(type: E["type"], aggregateId: string, data: E["data"], version = 1): E {
  return { id: randomUUID(), type, version, aggregateId, occurredAt: new Date().toISOString(), data } as E;
}

/** Narrow runtime check for anything read off Kafka; a message that fails it is a poison message. */
export function isEventEnvelope(value: unknown): value is EventEnvelope {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.id === "string" &&
    typeof v.type === "string" &&
    typeof v.version === "number" &&
    typeof v.aggregateId === "string" &&
    typeof v.data === "object" &&
    v.data !== null
  );
}
