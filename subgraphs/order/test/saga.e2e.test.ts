import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { adminToken, config, startStack, token, watchTopic, type Stack, codeOf } from "../../../test/harness.ts";
import { createEvent, type OrderEvent, type PaymentEvent } from "../../../common/events.ts";
import { toMessage } from "../../../common/kafka/publish.ts";
import { signWebhook } from "../src/webhook.ts";
import { watchRaw } from "./support.ts";
import { CANCEL_ORDER, createProduct, line, ORDER, orderInput, PAY_ORDER, PLACE_ORDER } from "../../../test/orders.ts";
import { eventually } from "../../../test/eventually.ts";
import { pgStock, redisStock } from "../../../test/stock.ts";

// The payment saga end to end: router -> order subgraph -> outbox -> Kafka -> payment worker -> Kafka ->
// order consumers -> PostgreSQL and Redis, with the real services and the development provider.
let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack({ relay: true, order: { workers: true } });
  admin = await adminToken();
});
afterAll(() => stack.close());

async function placed(user: string, product: { id: string; priceCents: number; priceVersion: number }, quantity: number) {
  const res = await stack.gql(PLACE_ORDER, { input: orderInput([line(product, quantity)]) }, { token: user });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.placeOrder as { id: string; status: string };
}

const orderStatus = async (id: string, user: string) => (await stack.gql(ORDER, { id }, { token: user })).data?.order;
const untilStatus = (id: string, user: string, status: string) =>
  eventually(
    async () => {
      const order = await orderStatus(id, user);
      return order?.status === status ? order : undefined;
    },
    30_000,
    `order ${id} to become ${status}`,
  );

/** The development mail files of one order, once there are `count` of them, sorted by name. */
const mailsOf = (orderId: string, count: number) =>
  eventually(
    async () => {
      const mine = (await readdir(stack.order.mailDir)).filter((f) => f.startsWith(orderId) && f.endsWith(".eml"));
      return mine.length === count ? mine.sort() : undefined;
    },
    30_000,
    `${count} mails of order ${orderId}`,
  );

test("a successful payment makes the order PAID then CONFIRMED, sells the stock and publishes every change", async () => {
  const events = await watchTopic(stack.kafka, "order");
  try {
    const product = await createProduct(stack.gql, admin, 10);
    const user = await token(`u-${randomUUID()}`);
    const order = await placed(user, product, 2);
    const pay = await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: user });
    expect(pay.errors).toBeUndefined();
    expect(pay.data!.payOrder.status).toBe("RESERVED");
    const again = await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: user });
    expect(again.data!.payOrder.id).toBe(order.id);

    await untilStatus(order.id, user, "CONFIRMED");
    expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 8, reserved: 0, sold: 2 });
    expect(await redisStock(stack.redis, product.id)).toEqual({ available: 8, reserved: 0, sold: 2 });
    const payments = await stack.prisma.payment.findMany({ where: { orderId: order.id } });
    expect(payments).toHaveLength(1);
    expect(payments[0]).toMatchObject({ status: "SUCCEEDED", amountCents: 2_000, providerRef: `dev_${payments[0]!.id}` });

    for (const [status, previous] of [
      ["RESERVED", null],
      ["PAID", "RESERVED"],
      ["CONFIRMED", "PAID"],
    ] as const) {
      const event = await events.waitFor((e) => e.aggregateId === order.id && e.data.order.status === status);
      expect(event).toMatchObject({
        type: "OrderStatusChanged",
        data: {
          previousStatus: previous,
          order: { id: order.id, totalCents: 2_000, items: [{ productId: product.id, quantity: 2, unitPriceCents: 1_000 }] },
        },
      });
    }
    expect(events.events.filter((e) => e.aggregateId === order.id)).toHaveLength(3);

    expect(codeOf(await stack.gql(CANCEL_ORDER, { id: order.id }, { token: user }))).toBe("INVALID_STATE");
    const payConfirmed = await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: user });
    expect(payConfirmed.errors![0]!.extensions).toMatchObject({ code: "INVALID_STATE", status: "CONFIRMED" });
  } finally {
    await events.close();
  }
});

test("a declined payment cancels the order with payment_declined and returns the stock", async () => {
  const product = await createProduct(stack.gql, admin, 5);
  const user = await token(`u-${randomUUID()}`);
  const order = await placed(user, product, 3);
  expect((await stack.gql(PAY_ORDER, { id: order.id, token: "tok_declined" }, { token: user })).errors).toBeUndefined();
  const cancelled = await untilStatus(order.id, user, "CANCELLED");
  expect(cancelled.cancelReason).toBe("payment_declined");
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
  await eventually(async () => ((await redisStock(stack.redis, product.id))?.available === 5 ? true : undefined), 10_000, "Redis stock back");
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
  expect(await stack.prisma.payment.findFirst({ where: { orderId: order.id } })).toMatchObject({ status: "FAILED", failureReason: "card_declined" });
});

test("cancelOrder returns the stock; a second cancel and paying are INVALID_STATE; other users are FORBIDDEN", async () => {
  const product = await createProduct(stack.gql, admin, 4);
  const user = await token(`u-${randomUUID()}`);
  const order = await placed(user, product, 4);
  const stranger = await token(`u-${randomUUID()}`);
  expect(codeOf(await stack.gql(CANCEL_ORDER, { id: order.id }, { token: stranger }))).toBe("FORBIDDEN");
  expect(codeOf(await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: stranger }))).toBe("FORBIDDEN");
  expect(codeOf(await stack.gql(CANCEL_ORDER, { id: randomUUID() }, { token: user }))).toBe("NOT_FOUND");

  const cancelled = await stack.gql(CANCEL_ORDER, { id: order.id }, { token: user });
  expect(cancelled.data!.cancelOrder).toMatchObject({ status: "CANCELLED", cancelReason: "cancelled_by_buyer" });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 4, reserved: 0, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 4, reserved: 0, sold: 0 });
  const twice = await stack.gql(CANCEL_ORDER, { id: order.id }, { token: user });
  expect(twice.errors![0]!.extensions).toMatchObject({ code: "INVALID_STATE", status: "CANCELLED" });
  const pay = await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: user });
  expect(pay.errors![0]!.extensions).toMatchObject({ code: "INVALID_STATE", status: "CANCELLED" });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 4, reserved: 0, sold: 0 });
});

describe("payment webhook", () => {
  /** A payment a provider is still working on (what payOrder leaves for an asynchronous provider). */
  async function pendingPayment(quantity = 1) {
    const product = await createProduct(stack.gql, admin, 5);
    const user = await token(`u-${randomUUID()}`);
    const order = await placed(user, product, quantity);
    const payment = await stack.prisma.payment.create({
      data: { id: randomUUID(), orderId: order.id, amountCents: 1_000 * quantity, currency: "USD" },
    });
    return { product, user, order, payment };
  }

  const post = (body: string, signature?: string) =>
    fetch(stack.order.webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json", ...(signature ? { "x-signature": signature } : {}) },
      body,
    });

  test("a correctly signed success confirms the order; a replay is accepted and changes nothing", async () => {
    const { product, user, order, payment } = await pendingPayment(2);
    const body = JSON.stringify({ paymentId: payment.id, status: "succeeded", providerRef: "psp_123" });
    const res = await post(body, signWebhook(config.PAYMENT_WEBHOOK_SECRET, body));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ received: true, applied: true });
    await untilStatus(order.id, user, "CONFIRMED");
    const replay = await post(body, signWebhook(config.PAYMENT_WEBHOOK_SECRET, body));
    expect(await replay.json()).toEqual({ received: true, applied: false });
    expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 3, reserved: 0, sold: 2 });
    expect(await stack.prisma.payment.findUnique({ where: { id: payment.id } })).toMatchObject({ status: "SUCCEEDED", providerRef: "psp_123" });
  });

  test("a bad or missing signature is 401 and changes nothing; a signed but malformed body is 400; an unknown payment 404", async () => {
    const { user, order, payment } = await pendingPayment();
    const body = JSON.stringify({ paymentId: payment.id, status: "succeeded", providerRef: "psp_forged" });
    expect((await post(body)).status).toBe(401);
    expect((await post(body, signWebhook("not-the-webhook-secret", body))).status).toBe(401);
    expect((await post(body, signWebhook(config.PAYMENT_WEBHOOK_SECRET, `${body} `))).status).toBe(401);
    const malformed = JSON.stringify({ paymentId: payment.id, status: "maybe" });
    expect((await post(malformed, signWebhook(config.PAYMENT_WEBHOOK_SECRET, malformed))).status).toBe(400);
    const unknown = JSON.stringify({ paymentId: randomUUID(), status: "failed", reason: "x" });
    expect((await post(unknown, signWebhook(config.PAYMENT_WEBHOOK_SECRET, unknown))).status).toBe(404);
    // Nothing can follow later either: the order moves only on a PaymentSucceeded or PaymentFailed event, which
    // settlePayment enqueues in the transaction that settles the payment, and none was enqueued.
    expect(await stack.prisma.outboxEvent.count({ where: { topic: "payment", key: order.id } })).toBe(0);
    expect((await orderStatus(order.id, user)).status).toBe("RESERVED");
    expect(await stack.prisma.payment.findUnique({ where: { id: payment.id } })).toMatchObject({ status: "PENDING" });
  });

  /** Moves the order's reservation into the past, in PostgreSQL and (optionally) in this stack's expiry index. */
  async function lapse(orderId: string, options: { index: boolean }) {
    await stack.prisma.$executeRaw`UPDATE orders SET reserved_until = now() - interval '1 second' WHERE id = ${orderId}::uuid`;
    if (options.index) await stack.redis.zadd(stack.order.domain.reservations.index, Date.now() - 1_000, orderId);
  }

  test.each([
    ["after the sweeper expired it", true],
    ["after reservedUntil but before any sweep", false],
  ])("money that arrives %s does not confirm the order: it is EXPIRED, its stock back once, and a refund is requested", async (_when, swept) => {
    const payments = await watchTopic(stack.kafka, "payment");
    try {
      const { product, user, order, payment } = await pendingPayment(2);
      await lapse(order.id, { index: swept });
      if (swept) {
        await stack.order.domain.sweeper.sweepOnce();
        expect((await orderStatus(order.id, user)).status).toBe("EXPIRED");
      }
      const body = JSON.stringify({ paymentId: payment.id, status: "succeeded", providerRef: "psp_late" });
      expect((await post(body, signWebhook(config.PAYMENT_WEBHOOK_SECRET, body))).status).toBe(200);
      const refund = await payments.waitFor((e) => e.type === "PaymentRefundRequested" && e.data.paymentId === payment.id, 30_000);
      expect(refund).toMatchObject({
        aggregateId: order.id,
        data: { orderId: order.id, amountCents: 2_000, currency: "USD", reason: "order_expired" },
      });
      expect(await stack.prisma.payment.findUnique({ where: { id: payment.id } })).toMatchObject({ status: "REFUND_REQUESTED" });
      expect((await orderStatus(order.id, user)).status).toBe("EXPIRED");
      expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
      expect(await redisStock(stack.redis, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
      expect(payments.events.filter((e) => e.aggregateId === order.id && e.type === "PaymentSucceeded")).toHaveLength(1);
    } finally {
      await payments.close();
    }
  });
});

test("a malformed or poison event goes to the dead-letter topic and the consumers carry on with the next one", async () => {
  const dlq = await watchRaw(stack.kafka, "payment.dlq");
  try {
    const product = await createProduct(stack.gql, admin, 3);
    const user = await token(`u-${randomUUID()}`);
    const order = await placed(user, product, 1);
    // Same key as the order's own events, so they share a partition and must queue behind the bad ones.
    const poison = createEvent<PaymentEvent>("PaymentSucceeded", order.id, { paymentId: "not-a-uuid", orderId: order.id } as never);
    await stack.producer.send({
      topic: stack.kafka.topic("payment"),
      messages: [{ key: order.id, value: "{ this is not json" }, toMessage(poison)],
    });
    expect((await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: user })).errors).toBeUndefined();
    await untilStatus(order.id, user, "CONFIRMED");

    const malformed = await dlq.waitFor((m) => m.value === "{ this is not json");
    expect(malformed).toMatchObject({ key: order.id, headers: { "dlq-reason": "malformed JSON" } });
    const rejected = await dlq.waitFor((m) => m.value.includes(poison.id));
    expect(rejected.headers["dlq-reason"]).toMatch(/permanent: .*paymentId/);
    expect(rejected.headers["dlq-group"]).toBe(stack.kafka.topic("order-payments"));
  } finally {
    await dlq.close();
  }
});

test("notifications read whole batches, yet dead-letter only a poison event and still mail the rest of its batch", async () => {
  const dlq = await watchRaw(stack.kafka, "order.dlq");
  try {
    const product = await createProduct(stack.gql, admin, 2);
    const user = await token(`mail-${randomUUID()}`);
    const order = await placed(user, product, 1);
    // Same key as the order's own events: one partition, so they arrive in the batch with the bad ones.
    const poison = createEvent<OrderEvent>("OrderStatusChanged", order.id, { order: { id: "not-a-uuid" } } as never);
    await stack.producer.send({ topic: stack.kafka.topic("order"), messages: [{ key: order.id, value: "{ this is not json" }, toMessage(poison)] });
    await stack.gql(CANCEL_ORDER, { id: order.id }, { token: user });

    const group = stack.kafka.topic("notifications");
    const rejected = await dlq.waitFor((m) => m.value.includes(poison.id) && m.headers["dlq-group"] === group);
    expect(rejected.headers["dlq-reason"]).toMatch(/^permanent: .*OrderStatusChanged: data\./);
    const malformed = await dlq.waitFor((m) => m.value === "{ this is not json" && m.headers["dlq-group"] === group);
    expect(malformed.headers["dlq-reason"]).toBe("malformed JSON");
    await mailsOf(order.id, 2);
  } finally {
    await dlq.close();
  }
});

test("the buyer is mailed at every status change; the messages are readable .eml files in development", async () => {
  const product = await createProduct(stack.gql, admin, 2);
  const userId = `mail-${randomUUID()}`;
  const user = await token(userId);
  const order = await placed(user, product, 1);
  await stack.gql(CANCEL_ORDER, { id: order.id }, { token: user });
  const files = await mailsOf(order.id, 2);
  expect(files.map((f) => f.split("-")[5])).toEqual(["cancelled", "reserved"]);
  const cancelled = await readFile(`${stack.order.mailDir}/${files[0]}`, "utf8");
  expect(cancelled).toContain(`To: <${userId}@${config.MAIL_RECIPIENT_DOMAIN}>`);
  // The subject is an RFC 2047 encoded word (UTF-8, base64).
  const subject = /^Subject: =\?utf-8\?B\?([A-Za-z0-9+/=]+)\?=\r?$/m.exec(cancelled)?.[1];
  expect(Buffer.from(subject ?? "", "base64").toString("utf8")).toBe(`Order ${order.id.slice(0, 8)} cancelled (cancelled by buyer)`);
  expect(cancelled).toMatch(/^From: .* <orders@flashgraph\.local>\r?$/m);
  expect(cancelled).toContain("Total: 10.00 USD");
});
