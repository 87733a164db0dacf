import { randomUUID } from "node:crypto";
import { adminToken, codeOf, config, startStack, token, watchTopic, type Stack } from "../../../test/harness.ts";
import { eventually } from "../../../test/eventually.ts";
import { CANCEL_ORDER, createProduct, PAY_ORDER, type TestProduct } from "../../../test/orders.ts";
import { pgStock, redisStock } from "../../../test/stock.ts";
import { createPrisma, type PrismaClient } from "../../../common/prisma.ts";
import { createEvent, type PaymentEvent } from "../../../common/events.ts";
import { publish } from "../../../common/kafka/publish.ts";
import { enqueue } from "../../../common/outbox.ts";
import { ASYNC_TOKEN, createDevPaymentProvider } from "../src/dev-payment-provider.ts";
import { signWebhook } from "../src/webhook.ts";
import { PAYMENT_OUTCOMES } from "../src/payment-outcomes.ts";
import { orderUntil, placeOrderOf } from "./support.ts";

// Money is never kept for an order that ends EXPIRED or CANCELLED: a payment in flight holds its order past
// reservedUntil (PAYMENT_HOLD_SECONDS, default 600), and money that arrives after the hold is refunded through
// the provider, once. The development provider books captures and refunds in its ledger (its own connection).
const HOLD_MS = 600_000;
const TTL_MS = config.RESERVATION_TTL_SECONDS * 1000;
const GRACE_MS = config.RESERVATION_ORPHAN_GRACE_SECONDS * 1000;

let stack: Stack;
let admin: string;
let ledgerDb: PrismaClient;
let provider: ReturnType<typeof createDevPaymentProvider>;
let offsetMs = 0;
const now = () => Date.now() + offsetMs;

beforeAll(async () => {
  ledgerDb = createPrisma(config.DATABASE_URL, { poolSize: 2 });
  provider = createDevPaymentProvider({ latencyMs: 0, ledger: ledgerDb });
  stack = await startStack({ relay: true, order: { workers: true, now, provider } });
  admin = await adminToken();
});
afterAll(async () => {
  await stack.close();
  await ledgerDb.$disconnect();
});
beforeEach(() => {
  offsetMs = 0;
});

const ORDER_WITH_PAYMENT = `query Order($id: ID!) { order(id: $id) { id status payment { id status amountCents currency refundedAt } } }`;

async function orderWithPayment(id: string, user: string) {
  const res = await stack.gql(ORDER_WITH_PAYMENT, { id }, { token: user });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.order as {
    status: string;
    payment: { id: string; status: string; amountCents: number; currency: string; refundedAt: string | null } | null;
  };
}

/** An order of 2 of 5 units whose payment the provider answered `pending` (it completes through the webhook). */
async function asyncPayment() {
  const product = await createProduct(stack.gql, admin, 5);
  const user = await token(`u-${randomUUID()}`);
  const order = await placeOrderOf(stack, user, product, 2);
  const paid = await stack.gql(PAY_ORDER, { id: order.id, token: ASYNC_TOKEN }, { token: user });
  expect(paid.errors).toBeUndefined();
  const row = await stack.prisma.payment.findUniqueOrThrow({ where: { orderId: order.id } });
  const payment = { paymentId: row.id, id: row.id, amountCents: row.amountCents, currency: row.currency.trim() };
  // The worker has asked the provider (and was told `pending`) once it recorded the PaymentRequested event.
  const [requested] = await stack.prisma.$queryRaw<{ event_id: string }[]>`
    SELECT event_id::text FROM outbox_events WHERE key = ${order.id} AND type = 'PaymentRequested'`;
  await eventually(
    async () =>
      (await stack.prisma.processedEvent.count({ where: { consumer: "payment-worker", eventId: requested!.event_id } })) === 1 ? true : undefined,
    20_000,
    "the payment worker to ask the provider",
  );
  return { product, user, order, payment };
}

const postWebhook = async (body: object) => {
  const raw = JSON.stringify(body);
  const res = await fetch(stack.order.webhookUrl, {
    method: "POST",
    headers: { "content-type": "application/json", "x-signature": signWebhook(config.PAYMENT_WEBHOOK_SECRET, raw) },
    body: raw,
  });
  return (await res.json()) as { received: boolean; applied: boolean };
};

const ledgerOf = async (paymentId: string) =>
  (await ledgerDb.devProviderLedger.findMany({ where: { paymentId }, orderBy: { kind: "asc" } })).map((r) => r.kind);

const stockIs = async (product: TestProduct, expected: { available: number; reserved: number; sold: number }) => {
  expect(await pgStock(stack.prisma, product.id)).toEqual(expected);
  expect(await redisStock(stack.redis, product.id)).toEqual(expected);
};

test("a payment in flight when reservedUntil passes is not expired; its success confirms the order, money captured once", async () => {
  const { product, user, order, payment } = await asyncPayment();
  offsetMs = TTL_MS + GRACE_MS + 1_000; // past reservedUntil and the database pass's grace, within the hold
  expect(await stack.order.domain.sweeper.sweepOnce()).toMatchObject({ expired: 0 });
  expect((await orderWithPayment(order.id, user)).status).toBe("RESERVED");
  await stockIs(product, { available: 3, reserved: 2, sold: 0 });
  // Paying again answers the order, without a second charge.
  const again = await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: user });
  expect(again.data?.payOrder.status).toBe("RESERVED");
  expect(await stack.prisma.payment.count({ where: { orderId: order.id } })).toBe(1);

  expect(await postWebhook(await provider.capturePending(payment))).toEqual({ received: true, applied: true });
  await orderUntil(stack, order.id, user, "CONFIRMED");
  expect((await orderWithPayment(order.id, user)).payment).toMatchObject({ status: "SUCCEEDED", amountCents: 2_000, refundedAt: null });
  expect(await ledgerOf(payment.id)).toEqual(["capture"]);
  await stockIs(product, { available: 3, reserved: 0, sold: 2 });
});

test("cancelOrder while the payment is in flight is INVALID_STATE (payment_in_progress); the outcome settles the order", async () => {
  const { product, user, order, payment } = await asyncPayment();
  const cancel = await stack.gql(CANCEL_ORDER, { id: order.id }, { token: user });
  expect(codeOf(cancel)).toBe("INVALID_STATE");
  expect(cancel.errors?.[0]?.extensions).toMatchObject({ status: "RESERVED", reason: "payment_in_progress" });
  offsetMs = TTL_MS + 1_000; // lapsed but held: still refused, not expired
  const lapsedCancel = await stack.gql(CANCEL_ORDER, { id: order.id }, { token: user });
  expect(lapsedCancel.errors?.[0]?.extensions).toMatchObject({ code: "INVALID_STATE", status: "RESERVED", reason: "payment_in_progress" });
  await stockIs(product, { available: 3, reserved: 2, sold: 0 });
  expect(await postWebhook({ paymentId: payment.id, status: "failed", reason: "card_declined" })).toEqual({ received: true, applied: true });
  const cancelled = await orderUntil(stack, order.id, user, "CANCELLED");
  expect(cancelled.cancelReason).toBe("payment_declined");
  await stockIs(product, { available: 5, reserved: 0, sold: 0 });
  expect(await ledgerOf(payment.id)).toEqual([]);
});

test("after the hold the order expires; a late success by webhook, sent twice, is refunded once and the order says so", async () => {
  const payments = await watchTopic(stack.kafka, "payment");
  try {
    const { product, user, order, payment } = await asyncPayment();
    offsetMs = TTL_MS + HOLD_MS + 1_000;
    expect(await stack.order.domain.sweeper.sweepOnce()).toMatchObject({ expired: 1 });
    await stockIs(product, { available: 5, reserved: 0, sold: 0 });

    const body = await provider.capturePending(payment);
    expect(await postWebhook(body)).toEqual({ received: true, applied: true });
    expect(await postWebhook(body)).toEqual({ received: true, applied: false });
    const refunded = await eventually(
      async () => {
        const o = await orderWithPayment(order.id, user);
        return o.payment?.status === "REFUNDED" ? o : undefined;
      },
      30_000,
      "the refund",
    );
    expect(refunded.status).toBe("EXPIRED");
    expect(refunded.payment).toMatchObject({ id: payment.id, amountCents: 2_000, currency: "USD" });
    expect(Date.parse(refunded.payment!.refundedAt!)).not.toBeNaN();
    expect(await ledgerOf(payment.id)).toEqual(["capture", "refund"]);
    expect(await stack.prisma.payment.findUnique({ where: { id: payment.id } })).toMatchObject({ refundRef: `dev_refund_${payment.id}` });
    await payments.waitFor((e) => e.type === "PaymentRefunded" && e.data.paymentId === payment.id, 20_000);
    expect(payments.events.filter((e) => e.aggregateId === order.id && e.type === "PaymentRefundRequested")).toHaveLength(1);
    await stockIs(product, { available: 5, reserved: 0, sold: 0 });
  } finally {
    await payments.close();
  }
});

test("a late worker result for an expired order is refunded once, however often PaymentSucceeded is delivered", async () => {
  const payments = await watchTopic(stack.kafka, "payment");
  try {
    const { product, user, order, payment } = await asyncPayment();
    offsetMs = TTL_MS + HOLD_MS + 1_000;
    expect(await stack.order.domain.sweeper.sweepOnce()).toMatchObject({ expired: 1 });
    // The worker charges after all (as a worker riding out a long provider outage would): the provider captures.
    const request = createEvent<PaymentEvent>("PaymentRequested", order.id, {
      paymentId: payment.id,
      orderId: order.id,
      userId: "late",
      amountCents: payment.amountCents,
      currency: "USD",
      paymentToken: "tok_visa",
    });
    await stack.prisma.$transaction((tx) => enqueue(tx, "payment", request));
    const succeeded = await payments.waitFor((e) => e.type === "PaymentSucceeded" && e.data.paymentId === payment.id, 20_000);
    // Delivered again: the same event (a redelivery) and a copy under a new id (a duplicate from elsewhere).
    const copy = { ...succeeded, id: randomUUID() };
    await publish(stack.kafka, stack.producer, "payment", [succeeded, copy]);
    await eventually(
      async () => ((await stack.prisma.processedEvent.count({ where: { consumer: PAYMENT_OUTCOMES, eventId: copy.id } })) === 1 ? true : undefined),
      20_000,
      "the duplicate to be handled",
    );
    await eventually(async () => ((await orderWithPayment(order.id, user)).payment?.status === "REFUNDED" ? true : undefined), 30_000, "the refund");
    await payments.waitFor((e) => e.type === "PaymentRefunded" && e.data.paymentId === payment.id, 20_000);
    expect(payments.events.filter((e) => e.aggregateId === order.id && e.type === "PaymentRefundRequested")).toHaveLength(1);
    expect(payments.events.filter((e) => e.aggregateId === order.id && e.type === "PaymentRefunded")).toHaveLength(1);
    expect(await ledgerOf(payment.id)).toEqual(["capture", "refund"]);
    expect((await orderWithPayment(order.id, user)).status).toBe("EXPIRED");
    await stockIs(product, { available: 5, reserved: 0, sold: 0 });
  } finally {
    await payments.close();
  }
});

test("the provider's refund is idempotent per payment id, also across provider instances (a restarted worker)", async () => {
  const paymentId = randomUUID();
  const request = { paymentId, orderId: randomUUID(), amountCents: 700, currency: "EUR" };
  const restarted = createDevPaymentProvider({ latencyMs: 0, ledger: ledgerDb });
  expect(await provider.refund(request)).toEqual(await restarted.refund(request));
  expect(await ledgerOf(paymentId)).toEqual(["refund"]);
});

test("invariant: every captured payment belongs to a CONFIRMED order or is refunded", async () => {
  // A plain synchronous payment too, so the invariant covers the worker's usual path.
  const product = await createProduct(stack.gql, admin, 1);
  const user = await token(`u-${randomUUID()}`);
  const order = await placeOrderOf(stack, user, product, 1);
  expect((await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: user })).errors).toBeUndefined();
  await orderUntil(stack, order.id, user, "CONFIRMED");
  const captures = await ledgerDb.$queryRaw<{ payment_id: string; order_status: string; payment_status: string; refunded: boolean }[]>`
    SELECT l.payment_id::text, o.status::text AS order_status, p.status::text AS payment_status,
           EXISTS (SELECT 1 FROM dev_provider_ledger r WHERE r.payment_id = l.payment_id AND r.kind = 'refund') AS refunded
    FROM dev_provider_ledger l JOIN payments p ON p.id = l.payment_id JOIN orders o ON o.id = p.order_id
    WHERE l.kind = 'capture'`;
  expect(captures.length).toBeGreaterThanOrEqual(4);
  for (const c of captures) {
    const ok = c.order_status === "CONFIRMED" ? !c.refunded && c.payment_status === "SUCCEEDED" : c.refunded && c.payment_status === "REFUNDED";
    expect({ ...c, ok }).toMatchObject({ ok: true });
  }
});
