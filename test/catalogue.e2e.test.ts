import { adminToken, startStack, token, uniqueSku, type Stack } from "./harness.ts";

let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack();
  admin = await adminToken();
});
afterAll(() => stack.close());

const CREATE = `mutation Create($input: CreateProductInput!) {
  createProduct(input: $input) { id sku name priceCents currency priceVersion active createdAt }
}`;

async function createProduct(overrides: Record<string, unknown> = {}) {
  const input = { sku: uniqueSku(), name: "Trail shoe", description: "Grippy", priceCents: 12_900, currency: "USD", initialStock: 5, ...overrides };
  const res = await stack.gql(CREATE, { input }, { token: admin });
  expect(res.errors).toBeUndefined();
  return res.data!.createProduct as { id: string; sku: string; priceVersion: number; createdAt: string };
}

test("a product joined with its stock through the router, right after creation", async () => {
  const product = await createProduct({ initialStock: 42 });
  const res = await stack.gql(`query($id: ID!) { product(id: $id) { id sku priceCents stock { productId available reserved sold } } }`, {
    id: product.id,
  });
  expect(res.errors).toBeUndefined();
  expect(res.data!.product).toEqual({
    id: product.id,
    sku: product.sku,
    priceCents: 12_900,
    stock: { productId: product.id, available: 42, reserved: 0, sold: 0 },
  });
  expect(new Date(product.createdAt).toISOString()).toBe(product.createdAt);
});

test("cursor pagination walks every product once, in order", async () => {
  const created = [];
  for (let i = 0; i < 5; i++) created.push(await createProduct());
  const seen: string[] = [];
  let after: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const res: any = await stack.gql(
      `query($after: String) { products(first: 7, after: $after) { edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor } } }`,
      { after },
    );
    expect(res.errors).toBeUndefined();
    const conn = res.data.products;
    expect(conn.nodes.map((n: any) => n.id)).toEqual(conn.edges.map((e: any) => e.node.id));
    expect(conn.nodes.length).toBeLessThanOrEqual(7);
    seen.push(...conn.nodes.map((n: any) => n.id));
    if (!conn.pageInfo.hasNextPage) break;
    expect(conn.pageInfo.endCursor).toBe(conn.edges.at(-1).cursor);
    after = conn.pageInfo.endCursor;
  }
  expect(new Set(seen).size).toBe(seen.length);
  const positions = created.map((p) => seen.indexOf(p.id));
  expect(positions.every((p) => p >= 0)).toBe(true);
  expect([...positions].sort((a, b) => a - b)).toEqual(positions);
});

test("pagination arguments are validated", async () => {
  const tooMany = await stack.gql(`{ products(first: 101) { nodes { id } } }`);
  expect(tooMany.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
  const badCursor = await stack.gql(`{ products(first: 2, after: "not-a-cursor") { nodes { id } } }`);
  expect(badCursor.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "after" });
});

test("a product is found by search the moment it is created, by name, sku or description", async () => {
  const word = `zq${Date.now().toString(36)}`;
  const product = await createProduct({ name: `Glow ${word} lamp`, description: "Warm light" });
  for (const query of [word.toUpperCase(), product.sku.toLowerCase()]) {
    const res = await stack.gql(`query($q: String!) { searchProducts(query: $q) { id name } }`, { q: query });
    expect(res.data!.searchProducts.map((p: any) => p.id)).toContain(product.id);
  }
  const none = await stack.gql(`{ searchProducts(query: "%") { id } }`);
  expect(none.errors).toBeUndefined();
  const empty = await stack.gql(`{ searchProducts(query: "   ") { id } }`);
  expect(empty.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "query" });
});

test("a price change bumps priceVersion by one; the same price does not", async () => {
  const product = await createProduct();
  const UPDATE = `mutation($id: ID!, $p: Int!) { updateProductPrice(id: $id, priceCents: $p) { priceCents priceVersion } }`;
  const first = await stack.gql(UPDATE, { id: product.id, p: 9_900 }, { token: admin });
  expect(first.data!.updateProductPrice).toEqual({ priceCents: 9_900, priceVersion: 2 });
  const same = await stack.gql(UPDATE, { id: product.id, p: 9_900 }, { token: admin });
  expect(same.data!.updateProductPrice).toEqual({ priceCents: 9_900, priceVersion: 2 });
  const second = await stack.gql(UPDATE, { id: product.id, p: 10_900 }, { token: admin });
  expect(second.data!.updateProductPrice).toEqual({ priceCents: 10_900, priceVersion: 3 });
  const read = await stack.gql(`query($id: ID!) { product(id: $id) { priceCents priceVersion } }`, { id: product.id });
  expect(read.data!.product).toEqual({ priceCents: 10_900, priceVersion: 3 });
  const missing = await stack.gql(UPDATE, { id: "00000000-0000-4000-8000-000000000000", p: 1 }, { token: admin });
  expect(missing.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
});

test("restock adds to available stock; bad quantities change nothing", async () => {
  const product = await createProduct({ initialStock: 3 });
  const RESTOCK = `mutation($id: ID!, $q: Int!) { restock(productId: $id, quantity: $q) { available reserved sold } }`;
  const ok = await stack.gql(RESTOCK, { id: product.id, q: 7 }, { token: admin });
  expect(ok.data!.restock).toEqual({ available: 10, reserved: 0, sold: 0 });
  for (const q of [0, -5, 10_000_001]) {
    const bad = await stack.gql(RESTOCK, { id: product.id, q }, { token: admin });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "quantity" });
  }
  const unknown = await stack.gql(RESTOCK, { id: "00000000-0000-4000-8000-000000000000", q: 1 }, { token: admin });
  expect(unknown.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
  const malformed = await stack.gql(RESTOCK, { id: "abc", q: 1 }, { token: admin });
  expect(malformed.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "productId" });
  const read = await stack.gql(`query($id: ID!) { product(id: $id) { stock { available } } }`, { id: product.id });
  expect(read.data!.product.stock.available).toBe(10);
  const row = await stack.prisma.stock.findUniqueOrThrow({ where: { productId: product.id } });
  expect([row.available, row.reserved, row.sold]).toEqual([10, 0, 0]);
});

test("invalid product input is BAD_USER_INPUT with the field, and creates nothing", async () => {
  const sku = uniqueSku();
  const cases: [Record<string, unknown>, string][] = [
    [{ currency: "usd" }, "input.currency"],
    [{ priceCents: -1 }, "input.priceCents"],
    [{ name: "" }, "input.name"],
    [{ initialStock: -3 }, "input.initialStock"],
    [{ sku: "has spaces" }, "input.sku"],
  ];
  for (const [overrides, field] of cases) {
    const input = { sku, name: "X", description: "", priceCents: 100, currency: "USD", ...overrides };
    const res = await stack.gql(CREATE, { input }, { token: admin });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field });
  }
  expect(await stack.prisma.product.count({ where: { sku } })).toBe(0);
  const existing = await createProduct();
  const duplicate = await stack.gql(
    CREATE,
    { input: { sku: existing.sku, name: "Dup", description: "", priceCents: 1, currency: "USD" } },
    { token: admin },
  );
  expect(duplicate.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "sku" });
  const malformed = await stack.gql(`{ product(id: "nope") { id } }`);
  expect(malformed.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "id" });
  const unknown = await stack.gql(`{ product(id: "00000000-0000-4000-8000-000000000000") { id } }`);
  expect(unknown).toEqual({ data: { product: null } });
});

test("anonymous callers read the catalogue; a buyer token is fine for reads too", async () => {
  const product = await createProduct();
  const asBuyer = await stack.gql(`query($id: ID!) { product(id: $id) { id } }`, { id: product.id }, { token: await token("reader") });
  expect(asBuyer.data!.product.id).toBe(product.id);
});
