import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, expect, test } from "@jest/globals";
import { adminToken, startStack, token, type Stack } from "../../../test/harness.ts";
import { createSale, itemTrace, pgSold, purchaseInput, PURCHASE, SALE } from "./support.ts";
import { createProduct, ORDER } from "../../../test/orders.ts";
import { eventually } from "../../../test/eventually.ts";
import { pgStock, redisStock } from "../../../test/stock.ts";

// Expiry and the automatic end with injected clocks (order and flash-sale), so nothing waits for real time.
const TTL_SECONDS = 60;
let offsetMs = 0;
const now = () => Date.now() + offsetMs;
let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack({
    order: { reservationTtlSeconds: TTL_SECONDS, orphanGraceSeconds: 5, now },
    flash: { reservationTtlSeconds: TTL_SECONDS, now },
  });
  admin = await adminToken();
});
afterAll(() => stack.close());
beforeEach(() => {
  offsetMs = 0;
});

test("an unpaid flash order expires through the order sweeper; its units go back to the sale once", async () => {
  const product = await createProduct(stack.gql, admin, 10);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 4 }]);
  const user = await token(`u-${randomUUID()}`);
  const res = await stack.gql(PURCHASE, { input: purchaseInput(sale.id, product.id, 2) }, { token: user });
  const order = res.data!.flashPurchase;
  await eventually(async () => ((await pgSold(stack.prisma, sale.id, product.id)) === 2 ? true : undefined));
  await stack.order.domain.sweeper.sweepOnce();
  expect((await stack.gql(ORDER, { id: order.id }, { token: user })).data!.order.status).toBe("RESERVED");

  offsetMs = TTL_SECONDS * 1000 + 1;
  // Two sweeps racing (the database pass may also expire other tests' leftovers in the shared test database).
  await Promise.all([stack.order.domain.sweeper.sweepOnce(), stack.order.domain.sweeper.sweepOnce()]);
  const expiredEvents = await stack.prisma.outboxEvent.count({
    where: { key: order.id, type: "OrderStatusChanged", payload: { path: ["data", "order", "status"], equals: "EXPIRED" } },
  });
  expect(expiredEvents).toBe(1);
  expect((await stack.gql(ORDER, { id: order.id }, { token: user })).data!.order.status).toBe("EXPIRED");
  const trace = await itemTrace(stack.redis, sale.id, product.id);
  expect(trace.item).toMatchObject({ remaining: "4", sold: "0" });
  expect(trace.users).toEqual({});
  expect(trace.expiry).toEqual([]);
  await stack.order.domain.sweeper.sweepOnce();
  expect((await itemTrace(stack.redis, sale.id, product.id)).item.remaining).toBe("4");
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 6, reserved: 0, sold: 0 });
});

test("at endsAt the end loop ends the sale and returns what is unsold, once", async () => {
  const product = await createProduct(stack.gql, admin, 10);
  const startsAt = Date.now() - 1_000;
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 5 }], {
    startsAt: new Date(startsAt).toISOString(),
    endsAt: new Date(startsAt + 30_000).toISOString(),
  });
  const bought = await stack.gql(PURCHASE, { input: purchaseInput(sale.id, product.id, 1) }, { token: await token(`u-${randomUUID()}`) });
  expect(bought.errors).toBeUndefined();
  // The test database is shared with other test files: assert on this sale, not on global pass counts.
  await stack.flash.domain.ender.endDue(3_600_000);
  expect((await stack.gql(SALE, { id: sale.id })).data!.flashSale).toMatchObject({ state: "ACTIVE", items: [{ remaining: 4 }] });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });

  offsetMs = 31_000;
  // Two passes at once: the 4 unsold units come back exactly once (9 available, not 13).
  await Promise.all([stack.flash.domain.ender.endDue(3_600_000), stack.flash.domain.ender.endDue(3_600_000)]);
  expect((await stack.gql(SALE, { id: sale.id })).data!.flashSale).toMatchObject({ state: "ENDED", items: [{ remaining: 0 }] });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 9, reserved: 0, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 9, reserved: 0, sold: 0 });
  const late = await stack.gql(PURCHASE, { input: purchaseInput(sale.id, product.id, 1) }, { token: await token(`u-${randomUUID()}`) });
  expect(late.errors![0]!.extensions).toMatchObject({ code: "SALE_NOT_ACTIVE" });
});
