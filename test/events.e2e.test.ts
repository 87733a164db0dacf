import { adminToken, startStack, uniqueSku, watchTopic, type Stack } from "./harness.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ relay: true });
});
afterAll(() => stack.close());

test("creating, repricing and restocking publish product and inventory events keyed by product id", async () => {
  const inventory = await watchTopic(stack.kafka, "inventory");
  const products = await watchTopic(stack.kafka, "product");
  try {
    const admin = await adminToken();
    const created = await stack.gql(
      `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
      { input: { sku: uniqueSku("EVT"), name: "Evented", description: "", priceCents: 500, currency: "EUR", initialStock: 3 } },
      { token: admin },
    );
    const id = created.data!.createProduct.id as string;
    await stack.gql(`mutation($id: ID!) { restock(productId: $id, quantity: 4) { available } }`, { id }, { token: admin });
    await stack.gql(`mutation($id: ID!) { updateProductPrice(id: $id, priceCents: 650) { priceVersion } }`, { id }, { token: admin });

    const initial = await inventory.waitFor((e) => e.aggregateId === id && e.data.reason === "created");
    expect(initial).toMatchObject({ type: "StockChanged", version: 1, data: { productId: id, available: 3, reserved: 0, sold: 0, delta: 3 } });
    const restocked = await inventory.waitFor((e) => e.aggregateId === id && e.data.reason === "restock");
    expect(restocked.data).toMatchObject({ available: 7, delta: 4 });
    expect(await products.waitFor((e) => e.aggregateId === id && e.type === "ProductCreated")).toMatchObject({
      data: { priceCents: 500, currency: "EUR" },
    });
    expect(await products.waitFor((e) => e.aggregateId === id && e.type === "ProductPriceChanged")).toMatchObject({
      data: { priceCents: 650, priceVersion: 2 },
    });
    const ids = [...inventory.events, ...products.events].map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  } finally {
    await inventory.close();
    await products.close();
  }
});
