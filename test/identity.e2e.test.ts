import { createSigner } from "fast-jwt";
import { config, gql, startStack, token, uniqueSku, type Stack } from "./harness.ts";
import { signClientToken } from "../common/identity.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const CREATE = `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`;
const input = () => ({ sku: uniqueSku("ID"), name: "Guarded", description: "", priceCents: 100, currency: "USD" });

test.each([
  ["missing", async () => undefined],
  ["forged", async () => signClientToken("a-completely-different-secret-123", "mallory", ["admin"])],
  ["expired", async () => signClientToken(config.JWT_SECRET, "alice", ["admin"], Math.floor(Date.now() / 1000) - 10)],
  ["without exp", async () => createSigner({ key: config.JWT_SECRET, algorithm: "HS256", sub: "alice", noTimestamp: true })({ roles: ["admin"] })],
])("a %s token gets UNAUTHENTICATED on an admin mutation and changes nothing", async (_case, make) => {
  const body = input();
  const res = await stack.gql(CREATE, { input: body }, { token: await make() });
  expect(res.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  expect(res.data).toBeNull();
  expect(await stack.prisma.product.count({ where: { sku: body.sku } })).toBe(0);
});

test("an authenticated non-admin gets FORBIDDEN", async () => {
  const res = await stack.gql(CREATE, { input: input() }, { token: await token("bob") });
  expect(res.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  const restock = await stack.gql(
    `mutation { restock(productId: "00000000-0000-4000-8000-000000000000", quantity: 1) { available } }`,
    {},
    { token: await token("bob") },
  );
  expect(restock.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
});

test("an admin token through the router works", async () => {
  const res = await stack.gql(CREATE, { input: input() }, { token: await token("root", ["admin"]) });
  expect(res.errors).toBeUndefined();
  expect(res.data!.createProduct.id).toMatch(/^[0-9a-f-]{36}$/);
});

test("a subgraph called directly refuses admin operations even with a valid admin token", async () => {
  const admin = await token("root", ["admin"]);
  const direct = await gql(stack.urls.product!, CREATE, { input: input() }, { token: admin });
  expect(direct.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
  const forgedHeader = await gql(
    stack.urls.inventory!,
    `mutation { restock(productId: "00000000-0000-4000-8000-000000000000", quantity: 1) { available } }`,
    {},
    {
      headers: { "x-flashgraph-identity": admin },
    },
  );
  expect(forgedHeader.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
});
