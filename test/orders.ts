// Orders as a client makes them, for the tests of every subgraph that answers or changes an order (order,
// flash-sale) and for the end-to-end tests: the operations, a product to order and an order's lines.

import { randomUUID } from "node:crypto";
import { uniqueSku, type GraphQLResponse } from "./harness.ts";

export const ORDER_FIELDS = `id status totalCents currency reservedUntil cancelReason createdAt updatedAt flashSaleId
  items { quantity unitPriceCents product { id } }`;

export const PLACE_ORDER = `mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { ${ORDER_FIELDS} } }`;
export const PAY_ORDER = `mutation Pay($id: ID!, $token: String!) { payOrder(id: $id, paymentToken: $token) { ${ORDER_FIELDS} } }`;
export const CANCEL_ORDER = `mutation Cancel($id: ID!) { cancelOrder(id: $id) { ${ORDER_FIELDS} } }`;
export const ORDER = `query Order($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`;

type Gql = (query: string, variables?: Record<string, unknown>, opts?: { token?: string }) => Promise<GraphQLResponse>;

export interface TestProduct {
  id: string;
  priceCents: number;
  priceVersion: number;
}

/** A product with `stock` units, created by an admin through the router (as a client would). */
export async function createProduct(gql: Gql, admin: string, stock: number, overrides: Record<string, unknown> = {}): Promise<TestProduct> {
  const input = {
    sku: uniqueSku("ORD"),
    name: "Limited sneaker",
    description: "Drop",
    priceCents: 1_000,
    currency: "USD",
    initialStock: stock,
    ...overrides,
  };
  const res = await gql(
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id priceCents priceVersion } }`,
    { input },
    { token: admin },
  );
  if (res.errors) throw new Error(`createProduct failed: ${JSON.stringify(res.errors)}`);
  return res.data!.createProduct as TestProduct;
}

export const line = (product: TestProduct, quantity = 1) => ({
  productId: product.id,
  quantity,
  expectedPriceCents: product.priceCents,
  priceVersion: product.priceVersion,
});
export type LineInput = { productId: string; quantity: number; expectedPriceCents?: number; priceVersion?: number };
export const orderInput = (items: LineInput[], idempotencyKey: string = randomUUID()) => ({ idempotencyKey, items });
