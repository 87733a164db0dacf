import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { adminToken, config, logger, startStack, token, type Stack, codeOf } from "../../../test/harness.ts";
import { createFlashSaleDomain } from "../src/domain.ts";
import { parsePurchaseInput, purchaseHash } from "../src/input.ts";
import { encodePointer, orderPointerKey } from "../../../common/orders/flash-keys.ts";
import { orderIdFor } from "../../../common/orders/order-id.ts";
import { flashRegistryFor } from "../../../common/orders/reservation-keys.ts";
import { createSale, CREATE_SALE, END_SALE, itemTrace, pgSold, purchaseInput, PURCHASE, SALE } from "./support.ts";
import { CANCEL_ORDER, createProduct, ORDER, PAY_ORDER } from "../../../test/orders.ts";
import { eventually } from "../../../test/eventually.ts";
import { pgStock, redisStock } from "../../../test/stock.ts";

let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack({ relay: true, order: { workers: true } });
  admin = await adminToken();
});
afterAll(() => stack.close());

async function buy(user: string, saleId: string, productId: string, quantity = 1) {
  const res = await stack.gql(PURCHASE, { input: purchaseInput(saleId, productId, quantity) }, { token: user });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.flashPurchase as { id: string; status: string; totalCents: number };
}
const orderOf = async (id: string, user: string) => (await stack.gql(ORDER, { id }, { token: user })).data?.order;
const untilStatus = (id: string, user: string, status: string) =>
  eventually(async () => ((await orderOf(id, user))?.status === status ? true : undefined), 30_000, `order ${id} to become ${status}`);
const returned = async (saleId: string, productId: string) =>
  (await stack.prisma.flashSaleItem.findUniqueOrThrow({ where: { saleId_productId: { saleId, productId } } })).returnedQuantity;

test("creating a sale moves units out of regular stock; not enough regular stock refuses it and changes nothing", async () => {
  const a = await createProduct(stack.gql, admin, 20);
  const b = await createProduct(stack.gql, admin, 5);
  const name = `Short ${randomUUID()}`;
  const now = Date.now();
  const input = {
    name,
    startsAt: new Date(now).toISOString(),
    endsAt: new Date(now + 60_000).toISOString(),
    perUserLimit: 1,
    items: [
      { productId: a.id, quantity: 10, salePriceCents: 1 },
      { productId: b.id, quantity: 6, salePriceCents: 1 },
    ],
  };
  const refused = await stack.gql(CREATE_SALE, { input }, { token: admin });
  expect(refused.errors![0]!.extensions).toMatchObject({ code: "OUT_OF_STOCK", productId: b.id, available: 5 });
  for (const [p, units] of [
    [a, 20],
    [b, 5],
  ] as const) {
    expect(await pgStock(stack.prisma, p.id)).toEqual({ available: units, reserved: 0, sold: 0 });
    expect(await redisStock(stack.redis, p.id)).toEqual({ available: units, reserved: 0, sold: 0 });
  }
  expect(await stack.prisma.flashSale.count({ where: { name } })).toBe(0);
  expect(codeOf(await stack.gql(CREATE_SALE, { input }, { token: await token("nobody") }))).toBe("FORBIDDEN");

  const sale = await createSale(stack.gql, admin, [
    { productId: a.id, quantity: 10 },
    { productId: b.id, quantity: 5 },
  ]);
  expect(sale.items.map((i) => i.remaining)).toEqual(sale.items.map((i) => i.quantity));
  expect(await pgStock(stack.prisma, a.id)).toEqual({ available: 10, reserved: 0, sold: 0 });
  expect(await redisStock(stack.redis, b.id)).toEqual({ available: 0, reserved: 0, sold: 0 });
  // Regular checkout can no longer take the units the sale holds.
  const regular = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
    { input: { idempotencyKey: randomUUID(), items: [{ productId: b.id, quantity: 1 }] } },
    { token: await token(`u-${randomUUID()}`) },
  );
  expect(regular.errors![0]!.extensions).toMatchObject({ code: "OUT_OF_STOCK", available: 0 });
});

test("ending returns the unsold units to regular stock exactly once, however many instances end it", async () => {
  const product = await createProduct(stack.gql, admin, 30);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 10 }]);
  const buyer = await token(`u-${randomUUID()}`);
  await buy(buyer, sale.id, product.id, 2);
  await eventually(async () => ((await pgSold(stack.prisma, sale.id, product.id)) === 2 ? true : undefined));

  const second = createFlashSaleDomain({
    ...stack,
    logger,
    registry: flashRegistryFor(stack.order.domain.reservations.index),
    reservationTtlSeconds: 900,
    tombstoneSeconds: config.RESERVATION_TOMBSTONE_SECONDS,
    saleRate: 100,
    saleBurst: 0,
    ipRate: 100,
    ipBurst: 0,
    publishLingerMs: 1,
    ctx: stack.kafka,
  });
  await Promise.all([
    stack.gql(END_SALE, { id: sale.id }, { token: admin }),
    stack.flash.domain.ender.end(sale.id),
    second.ender.end(sale.id),
    second.ender.endDue(3_600_000),
  ]);
  const ended = await stack.gql(END_SALE, { id: sale.id }, { token: admin });
  expect(ended.data!.endFlashSale).toMatchObject({ state: "ENDED", items: [{ quantity: 10, remaining: 0 }] });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 28, reserved: 0, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 28, reserved: 0, sold: 0 });
  expect(await returned(sale.id, product.id)).toBe(8);
  expect(
    await stack.prisma.outboxEvent.count({
      where: { key: sale.id, type: "FlashSaleChanged", payload: { path: ["data", "state"], equals: "ENDED" } },
    }),
  ).toBe(1);

  const late = await stack.gql(PURCHASE, { input: purchaseInput(sale.id, product.id) }, { token: await token(`u-${randomUUID()}`) });
  expect(late.errors![0]!.extensions).toMatchObject({ code: "SALE_NOT_ACTIVE", endsAt: expect.any(String) });
  expect((await stack.gql(SALE, { id: sale.id })).data!.flashSale.state).toBe("ENDED");
  await second.publisher.close();
});

test("a flash order is paid and confirmed by the order subgraph's saga; its units stay sold", async () => {
  const product = await createProduct(stack.gql, admin, 10);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 5, salePriceCents: 250 }]);
  const user = await token(`u-${randomUUID()}`);
  const order = await buy(user, sale.id, product.id, 2);
  const pay = await stack.gql(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: user });
  expect(pay.errors).toBeUndefined();
  await untilStatus(order.id, user, "CONFIRMED");
  const payment = await stack.prisma.payment.findFirstOrThrow({ where: { orderId: order.id } });
  expect(payment).toMatchObject({ status: "SUCCEEDED", amountCents: 500 });
  const trace = await itemTrace(stack.redis, sale.id, product.id);
  expect(trace.item).toMatchObject({ remaining: "3", sold: "2", confirmed: "2" });
  expect(trace.expiry).toEqual([]);
  // Regular stock is untouched by a flash order's whole life.
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
});

test("a declined payment or a cancellation gives the units back to the sale, and after the end to regular stock", async () => {
  const product = await createProduct(stack.gql, admin, 10);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 6 }], { perUserLimit: 3 });
  const user = await token(`u-${randomUUID()}`);
  const declined = await buy(user, sale.id, product.id, 2);
  expect((await stack.gql(PAY_ORDER, { id: declined.id, token: "tok_declined" }, { token: user })).errors).toBeUndefined();
  await untilStatus(declined.id, user, "CANCELLED");
  await eventually(
    async () => ((await itemTrace(stack.redis, sale.id, product.id)).item.remaining === "6" ? true : undefined),
    10_000,
    "units back in the sale",
  );
  expect((await itemTrace(stack.redis, sale.id, product.id)).users).toEqual({});

  const kept = await buy(user, sale.id, product.id, 3);
  const cancelled = await stack.gql(CANCEL_ORDER, { id: kept.id }, { token: user });
  expect(cancelled.data!.cancelOrder).toMatchObject({ status: "CANCELLED", cancelReason: "cancelled_by_buyer", flashSaleId: sale.id });
  expect((await itemTrace(stack.redis, sale.id, product.id)).item).toMatchObject({ remaining: "6", sold: "0" });

  // Bought before the end, cancelled after it: the units go to regular stock with the next drain, once.
  const afterEnd = await buy(user, sale.id, product.id, 2);
  await stack.flash.domain.ender.end(sale.id);
  expect(await pgStock(stack.prisma, product.id)).toMatchObject({ available: 8 });
  expect((await stack.gql(CANCEL_ORDER, { id: afterEnd.id }, { token: user })).data!.cancelOrder.status).toBe("CANCELLED");
  await stack.flash.domain.ender.endDue(3_600_000);
  await stack.flash.domain.ender.endDue(3_600_000);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 10, reserved: 0, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 10, reserved: 0, sold: 0 });
  expect(await returned(sale.id, product.id)).toBe(6);
});

test("order(id) finds a flash order before PostgreSQL has it, and paying it writes it first", async () => {
  const product = await createProduct(stack.gql, admin, 10);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 5 }]);
  const user = await token(`u-${randomUUID()}`);
  // A purchase whose event is still on its way: the script and the order pointer ran, PostgreSQL has nothing yet.
  const userId = `pending-${randomUUID()}`;
  const pendingUser = await token(userId);
  const input = parsePurchaseInput(purchaseInput(sale.id, product.id, 1));
  const pending = { id: orderIdFor(userId, input.idempotencyKey) };
  const requestHash = purchaseHash(input);
  await stack.redis.set(orderPointerKey(pending.id), encodePointer({ saleId: sale.id, productId: product.id, requestHash }));
  const taken = await stack.flash.domain.stock.purchase({
    ...input,
    saleId: sale.id,
    orderId: pending.id,
    userId,
    requestHash,
    nowMs: Date.now(),
    expiresAtMs: Date.now() + 60_000,
    rate: 100,
    burst: 100,
  });
  expect(taken.ok).toBe(true);
  expect(await stack.prisma.order.count({ where: { id: pending.id } })).toBe(0);
  const read = await orderOf(pending.id, pendingUser);
  expect(read).toMatchObject({ id: pending.id, status: "RESERVED", flashSaleId: sale.id, items: [{ quantity: 1, unitPriceCents: 500 }] });
  expect(codeOf(await stack.gql(ORDER, { id: pending.id }, { token: user }))).toBe("FORBIDDEN");
  expect((await stack.gql(PAY_ORDER, { id: pending.id, token: "tok_visa" }, { token: pendingUser })).errors).toBeUndefined();
  await untilStatus(pending.id, pendingUser, "CONFIRMED");
});
