import { startStack, type Stack } from "./harness.ts";
import { healthDuring } from "./health-during.ts";

// The attacks of issue 19 against the router (common/operation-limits.ts): each is refused before validation
// with OPERATION_LIMIT_EXCEEDED (which limit, the limit, the value) or BAD_USER_INPUT, and `/health` keeps
// answering meanwhile. The same refusals on every path: operation-limits-paths.e2e.test.ts.

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

const post = async (url: string, body: string, headers: Record<string, string> = {}) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  return { status: response.status, body: (await response.json()) as { errors?: { extensions?: Record<string, unknown> }[]; data?: unknown } };
};
const refusal = (kind: string, limit: number, value: number, status = 400) => ({
  status,
  body: { errors: [{ message: expect.any(String), extensions: { code: "OPERATION_LIMIT_EXCEEDED", kind, limit, value } }] },
});
const badInput = (field: string) => ({
  status: 400,
  body: { errors: [{ message: expect.any(String), extensions: { code: "BAD_USER_INPUT", field } }] },
});

/** Runs `attack` against the router while probing its `/health`, and returns the attack's answer. */
async function underAttack<T>(attack: () => Promise<T>): Promise<T> {
  const { result, slowestMs, probes } = await healthDuring(stack.routerUrl, attack);
  expect(probes).toBeGreaterThan(0);
  expect(slowestMs).toBeLessThan(200);
  return result;
}

const aliased = (count: number) =>
  `{ ${Array.from({ length: count }, (_, i) => `a${i}: products(first: 100) { nodes { stock { available } } }`).join(" ")} }`;
const nested = (levels: number) => `{ products { nodes { ${"stock { product { ".repeat(levels)}id${" } }".repeat(levels)} } } }`;
const fragmentBomb = [
  "query { products { nodes { ...F30 } } }",
  "fragment F0 on Product { name }",
  ...Array.from({ length: 30 }, (_, i) => `fragment F${i + 1} on Product { ...F${i} ...F${i} }`),
].join("\n");

describe("an attack is refused with the limit it broke", () => {
  test("200 KB of `__typename` (20 000 fields): tokens", async () => {
    const query = `{ ${"__typename ".repeat(20_000)}}`;
    expect(await underAttack(() => post(stack.routerUrl, JSON.stringify({ query })))).toEqual(refusal("tokens", 1_000, 1_001));
  });

  test("a 4 MB body: 413 bodySize", async () => {
    const body = JSON.stringify({ query: "{ __typename }", variables: { pad: "x".repeat(4 * 1024 * 1024) } });
    expect(await underAttack(() => post(stack.routerUrl, body))).toEqual(refusal("bodySize", 1_048_576, body.length, 413));
  });

  test("100 aliased products(first: 100) with stock: tokens; 12 of them: aliases within, root fields over", async () => {
    expect(await underAttack(() => post(stack.routerUrl, JSON.stringify({ query: aliased(100) })))).toEqual(refusal("tokens", 1_000, 1_001));
    expect(await underAttack(() => post(stack.routerUrl, JSON.stringify({ query: aliased(12) })))).toEqual(refusal("rootFields", 10, 12));
  });

  test("7 aliased products(first: 100) with stock: cost (each 801: 100 nodes, each a stock join of 1 + 5)", async () => {
    expect(await underAttack(() => post(stack.routerUrl, JSON.stringify({ query: aliased(7) })))).toEqual(refusal("cost", 5_000, 7 * 801));
  });

  test("a slicing argument given as a variable counts with its value", async () => {
    const query = "query($n: Int) { products(first: $n) { nodes { name } } }";
    expect(await post(stack.routerUrl, JSON.stringify({ query, variables: { n: 10_000 } }))).toEqual(refusal("cost", 5_000, 20_001));
    expect((await post(stack.routerUrl, JSON.stringify({ query, variables: { n: 2 } }))).status).toBe(200);
  });

  test("deep nesting: depth", async () => {
    expect(await underAttack(() => post(stack.routerUrl, JSON.stringify({ query: nested(20) })))).toEqual(refusal("depth", 10, 43));
  });

  test("a fragment bomb (2^30 fields once expanded): fields, counted without expanding", async () => {
    expect(await underAttack(() => post(stack.routerUrl, JSON.stringify({ query: fragmentBomb })))).toEqual(refusal("fields", 250, 2 ** 30 + 2));
  });

  test("a fragment cycle: the validation error, at once", async () => {
    const query = "query { products { nodes { ...A } } } fragment A on Product { name ...B } fragment B on Product { id ...A }";
    const answer = await underAttack(() => post(stack.routerUrl, JSON.stringify({ query })));
    expect(answer.status).toBe(400);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  test("too many directives", async () => {
    const query = `{ products { nodes { ${"name @include(if: true) ".repeat(51)}} } }`;
    expect(await underAttack(() => post(stack.routerUrl, JSON.stringify({ query })))).toEqual(refusal("directives", 50, 51));
  });

  test("variables over 64 KiB: variablesSize", async () => {
    const variables = { q: "x".repeat(70_000) };
    const body = JSON.stringify({ query: "query($q: String!) { searchProducts(query: $q) { id } }", variables });
    expect(await underAttack(() => post(stack.routerUrl, body))).toEqual(refusal("variablesSize", 65_536, JSON.stringify(variables).length));
  });
});

describe("strings no store can hold are BAD_USER_INPUT before execution", () => {
  test.each([
    ["NUL in a literal", { query: '{ searchProducts(query: "a\\u0000b") { id } }' }, "query"],
    ["NUL in a variable", { query: "query($q: String!) { searchProducts(query: $q) { id } }", variables: { q: "a\u0000b" } }, "q"],
    ["a lone surrogate in a variable", { query: "query($q: String!) { searchProducts(query: $q) { id } }", variables: { q: "a\ud800b" } }, "q"],
    [
      "NUL inside an input object",
      { query: "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }", variables: { i: { sku: "s", name: "a\u0000" } } },
      "i.name",
    ],
  ])("%s", async (_name, body, field) => {
    expect(await underAttack(() => post(stack.routerUrl, JSON.stringify(body)))).toEqual(badInput(field));
  });
});

describe("the platform's own operations pass", () => {
  test("the introspection query Apollo Sandbox sends", async () => {
    const { getIntrospectionQuery } = await import("graphql");
    const query = getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
    });
    const answer = await post(stack.routerUrl, JSON.stringify({ query }));
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
  });

  test("a catalogue page of 100 products with their stock", async () => {
    const query =
      "{ products(first: 100) { nodes { id sku name description priceCents currency priceVersion stock { available reserved sold } } pageInfo { hasNextPage endCursor } } }";
    const answer = await post(stack.routerUrl, JSON.stringify({ query }));
    expect({ status: answer.status, errors: answer.body.errors }).toEqual({ status: 200, errors: undefined });
  });
});
