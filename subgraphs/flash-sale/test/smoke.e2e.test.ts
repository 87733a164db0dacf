import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { adminToken, startStack, token, type Stack } from "../../../test/harness.ts";
import { createProduct, createSale, eventually, purchaseInput, PURCHASE, ORDER_FIELDS, pgSold } from "./support.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

test("smoke", async () => {
  const admin = await adminToken();
  const product = await createProduct(stack.gql, admin, 50);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 10 }]);
  expect(sale.state).toBe("ACTIVE");
  const alice = await token("alice-" + Date.now());
  const res = await stack.gql(PURCHASE, { input: purchaseInput(sale.id, product.id, 2) }, { token: alice });
  expect(res.errors).toBeUndefined();
  const order = res.data!.flashPurchase;
  expect(order.status).toBe("RESERVED");
  const read = await stack.gql(`query($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`, { id: order.id }, { token: alice });
  expect(read.errors).toBeUndefined();
  expect(read.data!.order.id).toBe(order.id);
  await eventually(async () => ((await pgSold(stack.prisma, sale.id, product.id)) === 2 ? true : undefined));
});
