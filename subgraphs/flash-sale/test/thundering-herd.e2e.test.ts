import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { adminToken, startStack, token, type Stack, codeOf } from "../../../test/harness.ts";
import { createSale, pgSold, purchaseInput, PURCHASE, redisSold, SALE } from "./support.ts";
import { createProduct } from "../../../test/orders.ts";
import { eventually } from "../../../test/eventually.ts";
import { pgStock } from "../../../test/stock.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

test("1000 concurrent buyers for 100 units (perUserLimit 2) through the router: exactly 100 sold, Redis and PostgreSQL agree", async () => {
  const admin = await adminToken();
  const product = await createProduct(stack.gql, admin, 150);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 100, salePriceCents: 990 }], { perUserLimit: 2 });
  // Regular stock lost the 100 units to the sale.
  expect(await pgStock(stack.prisma, product.id)).toMatchObject({ available: 50 });

  const buyers = await Promise.all(Array.from({ length: 1000 }, (_, i) => token(`herd-${sale.id}-${i}`)));
  const results = await Promise.all(
    buyers.map((t, i) => stack.gql(PURCHASE, { input: purchaseInput(sale.id, product.id, 1 + (i % 2)) }, { token: t })),
  );
  const orders = results.filter((r) => !r.errors).map((r) => r.data!.flashPurchase);
  const codes = new Set(results.filter((r) => r.errors).map(codeOf));
  const sold = orders.reduce((sum, o) => sum + o.items[0].quantity, 0);
  expect(sold).toBe(100);
  expect(codes).toEqual(new Set(["OUT_OF_STOCK"]));
  for (const o of orders) {
    expect(o).toMatchObject({ status: "RESERVED", flashSaleId: sale.id, currency: "USD" });
    expect(o.totalCents).toBe(990 * o.items[0].quantity);
  }
  expect(await redisSold(stack.redis, sale.id, product.id)).toBe(100);
  const live = await stack.gql(SALE, { id: sale.id });
  expect(live.data!.flashSale.items[0].remaining).toBe(0);

  // Once the writer caught up, PostgreSQL holds the same orders, with the ids the buyers got.
  await eventually(
    async () => ((await pgSold(stack.prisma, sale.id, product.id)) === 100 ? true : undefined),
    30_000,
    "PostgreSQL to have 100 units",
  );
  const stored = await stack.prisma.order.findMany({ where: { flashSaleId: sale.id }, select: { id: true } });
  expect(new Set(stored.map((o) => o.id))).toEqual(new Set(orders.map((o) => o.id)));
  // Sale stock is not regular stock: the regular counters never moved while the sale sold out.
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 50, reserved: 0, sold: 0 });
}, 120_000);
