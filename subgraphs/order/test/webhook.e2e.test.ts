import { randomUUID } from "node:crypto";
import { adminToken, config, startStack, token, watchTopic, type Stack } from "../../../test/harness.ts";
import { signWebhook } from "../src/webhook.ts";
import { orderOf, orderUntil, placeOrderOf } from "./support.ts";
import { createProduct, type TestProduct } from "../../../test/orders.ts";
import { pgStock, redisStock } from "../../../test/stock.ts";

// POST /webhooks/payment with the real services: signatures, replays, and money that arrives too late.
let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack({ relay: true, order: { workers: true } });
  admin = await adminToken();
});
afterAll(() => stack.close());

const placed = (user: string, product: TestProduct, quantity: number) => placeOrderOf(stack, user, product, quantity);
const orderStatus = (id: string, user: string) => orderOf(stack, id, user);
const untilStatus = (id: string, user: string, status: string) => orderUntil(stack, id, user, status);

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
      // The payment worker then refunds it through the provider (payment-holds.e2e.test.ts covers that in full).
      await payments.waitFor((e) => e.type === "PaymentRefunded" && e.data.paymentId === payment.id, 30_000);
      expect(await stack.prisma.payment.findUnique({ where: { id: payment.id } })).toMatchObject({ status: "REFUNDED" });
      expect((await orderStatus(order.id, user)).status).toBe("EXPIRED");
      expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
      expect(await redisStock(stack.redis, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
      expect(payments.events.filter((e) => e.aggregateId === order.id && e.type === "PaymentSucceeded")).toHaveLength(1);
    } finally {
      await payments.close();
    }
  });
});
