import { adminToken, startStack, uniqueSku, type Stack } from "../../../test/harness.ts";
import { readMetric, testCacheOptions } from "./support.ts";

// Point 3, through the router: product fields come from the cache while stock always comes from the
// inventory subgraph's live counters, so a restock shows at once however warm the product cache is.

let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack({ productCache: testCacheOptions({ l1TtlMs: 10 * 60_000 }) });
  admin = await adminToken();
});
afterAll(() => stack.close());

const productMetric = async (name: string, labels: Record<string, string>) =>
  readMetric(await (await fetch(stack.urls.product!.replace("/graphql", "/metrics"))).text(), name, labels);
const l1Hits = () => productMetric("cache_requests_total", { cache: "product", level: "l1", result: "hit" });

const PRODUCT = `query($id: ID!) { product(id: $id) { name priceCents stock { available reserved sold } } }`;

test("a restock shows at once in a product served from the cache", async () => {
  const created = await stack.gql(
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
    { input: { sku: uniqueSku("LIVE"), name: "Live stock", description: "", priceCents: 990, currency: "USD", initialStock: 5 } },
    { token: admin },
  );
  const id = created.data!.createProduct.id as string;
  expect((await stack.gql(PRODUCT, { id })).data!.product).toEqual({
    name: "Live stock",
    priceCents: 990,
    stock: { available: 5, reserved: 0, sold: 0 },
  });
  const hits = await l1Hits();
  expect((await stack.gql(PRODUCT, { id })).data!.product.stock.available).toBe(5);
  expect(await l1Hits()).toBe(hits + 1);

  const restocked = await stack.gql(`mutation($id: ID!) { restock(productId: $id, quantity: 7) { available } }`, { id }, { token: admin });
  expect(restocked.data!.restock.available).toBe(12);
  const after = await stack.gql(PRODUCT, { id });
  expect(after.data!.product).toEqual({ name: "Live stock", priceCents: 990, stock: { available: 12, reserved: 0, sold: 0 } });
  expect(await l1Hits()).toBe(hits + 2); // the product itself still came from L1
});

test("products with stock through the router: the second page read costs no database query, stock stays live", async () => {
  const LIST = `{ products(first: 20) { nodes { id name priceCents stock { available } } } }`;
  const pages = () => productMetric("product_store_queries_total", { operation: "page" });
  const first = await stack.gql(LIST);
  expect(first.errors).toBeUndefined();
  const before = await pages();
  const second = await stack.gql(LIST);
  expect(second.data).toEqual(first.data);
  expect(await pages()).toBe(before);

  const [node] = first.data!.products.nodes as { id: string; stock: { available: number } }[];
  await stack.gql(`mutation($id: ID!) { restock(productId: $id, quantity: 1) { available } }`, { id: node!.id }, { token: admin });
  const third = await stack.gql(LIST);
  const again = (third.data!.products.nodes as { id: string; stock: { available: number } }[]).find((n) => n.id === node!.id)!;
  expect(again.stock.available).toBe(node!.stock.available + 1);
  expect(await pages()).toBe(before);
});
