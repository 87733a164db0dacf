import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { adminToken, config, startStack, token, watchTopic, type Stack, codeOf } from "../../../test/harness.ts";
import { createEvent, type OrderEvent, type PaymentEvent } from "../../../common/events.ts";
import { toMessage } from "../../../common/kafka/publish.ts";
import { orderUntil, placeOrderOf, watchRaw } from "./support.ts";
import { CANCEL_ORDER, createProduct, PAY_ORDER, type TestProduct } from "../../../test/orders.ts";
import { eventually } from "../../../test/eventually.ts";
import { pgStock, redisStock } from "../../../test/stock.ts";
import { applyTransition, Transition, TX_OPTIONS } from "../src/transitions.ts";

// The payment saga end to end: router -> order subgraph -> outbox -> Kafka -> payment worker -> Kafka ->
// order consumers -> PostgreSQL and Redis, with the real services and the development provider.
let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack({ relay: true, order: { workers: true } });
  admin = await adminToken();
});
afterAll(() => stack.close());

const placed = (user: string, product: TestProduct, quantity: number) => placeOrderOf(stack, user, product, quantity);
const untilStatus = (id: string, user: string, status: string) => orderUntil(stack, id, user, status);

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
    // Paying again once the payment went through (a retry whose answer was lost) answers the order, charging nothing.
    const payConfirmed = await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: user });
    expect(payConfirmed.errors).toBeUndefined();
    expect(payConfirmed.data!.payOrder).toMatchObject({ id: order.id, status: "CONFIRMED" });
    expect(await stack.prisma.payment.count({ where: { orderId: order.id } })).toBe(1);
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

test("a cancel committed without its Redis step (the process killed in between) is settled by its own event", async () => {
  const product = await createProduct(stack.gql, admin, 5);
  const user = await token(`u-${randomUUID()}`);
  const order = await placed(user, product, 3);
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 2, reserved: 3, sold: 0 });
  // What a cancelOrder does before its process dies: the transition commits, the Redis script never runs. No sweep
  // runs here, and the reservation expires in 15 minutes: only the OrderStatusChanged event can settle it now.
  await stack.prisma.$transaction((tx) => applyTransition(tx, order.id, Transition.cancelByBuyer(new Date())), TX_OPTIONS);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
  await eventually(
    async () => ((await redisStock(stack.redis, product.id))?.reserved === 0 ? true : undefined),
    20_000,
    "the reservation released by the settlement consumer",
  );
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
  expect(await stack.order.domain.reservations.release(order.id)).toEqual({ ok: false, reason: "already", state: "released" });
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
