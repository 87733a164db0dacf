import { readFileSync } from "node:fs";
import { Agent } from "undici";
import { createSubscriptionPlanner } from "../router/src/subscriptions/planner.ts";
import { SUPERGRAPH_FILE } from "../schema/compose.ts";
import { startRouter, startStack, type Stack } from "./harness.ts";
import { healthDuring } from "./health-during.ts";
import { passthroughFor } from "./passthrough-for.ts";

// Clients see one schema, the API schema: introspection never reaches a subgraph (whose schema has `_entities`,
// `_service` and what the supergraph hides), and INTROSPECTION turns it off (production's default).

let stack: Stack;
const agent = new Agent();
const { route } = passthroughFor({ product: "http://p", inventory: "http://i", order: "http://o", "flash-sale": "http://f" }, agent, 1_000);
const apiQueryFields = Object.keys(createSubscriptionPlanner(readFileSync(SUPERGRAPH_FILE, "utf8")).schema.getQueryType()!.getFields()).sort();
beforeAll(async () => {
  stack = await startStack();
  // Warm the router (first connections, the first introspection), so a probe's time is the attack's and not a cold start's.
  await fetch(new URL("/health", stack.routerUrl));
  await post(stack.routerUrl, MIXED);
});
afterAll(async () => {
  await stack.close();
  await agent.close();
});

const post = async (url: string, query: string) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: { extensions: { code: string } }[] } };
};

/** A query a single subgraph could answer, with introspection beside it (the pass-through once answered it from the subgraph). */
const MIXED = `{ products(first: 1) { nodes { id } } __type(name: "Query") { fields { name } } }`;
const SCHEMA = `{ __schema { types { name } } }`;
const FEDERATION_NAMES = ["_entities", "_service", "_Entity", "_Service", "_Any"];

describe("in development", () => {
  test("__type beside a single-subgraph query answers the API schema's fields only", async () => {
    expect(route({ query: MIXED })).toBe(false);
    expect(route({ query: `fragment F on Query { __schema { queryType { name } } } { products(first: 1) { nodes { id } } ...F }` })).toBe(false);
    const { result, slowestMs } = await healthDuring(stack.routerUrl, () => post(stack.routerUrl, MIXED));
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    const fields = (result.body.data.__type.fields as { name: string }[]).map((f) => f.name).sort();
    expect(fields).toEqual(apiQueryFields);
    expect(fields).toEqual(expect.arrayContaining(["products", "product"]));
    for (const name of FEDERATION_NAMES) expect(fields).not.toContain(name);
    expect(slowestMs).toBeLessThan(200);
  });

  test("__schema works, and names no federation type", async () => {
    const { status, body } = await post(stack.routerUrl, SCHEMA);
    const types = (body.data.__schema.types as { name: string }[]).map((t) => t.name);
    expect([status, types]).toEqual([200, expect.arrayContaining(["Query", "Product", "Order"])]);
    for (const name of FEDERATION_NAMES) expect(types).not.toContain(name);
  });
});

describe("with INTROSPECTION off", () => {
  let router: Awaited<ReturnType<typeof startRouter>>;
  beforeAll(async () => {
    router = await startRouter(stack.urls, { development: false });
    await fetch(new URL("/health", router.url));
    await post(router.url, SCHEMA);
  });
  afterAll(() => router.close());

  test("production refuses __schema and __type by default, on every path, and still answers the rest", async () => {
    const { result, slowestMs } = await healthDuring(router.url, async () => [
      await post(router.url, SCHEMA),
      await post(router.url, MIXED),
      await post(router.url, `{ __type(name: "Product") { name } }`),
    ]);
    for (const answer of result) {
      expect(answer.status).toBe(400);
      expect(answer.body.data).toBeUndefined();
      expect(answer.body.errors?.map((e) => e.extensions.code)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
    }
    expect(slowestMs).toBeLessThan(200);
    expect(await post(router.url, `{ products(first: 1) { nodes { id __typename } } }`)).toMatchObject({ status: 200, body: { data: {} } });
  });

  test("INTROSPECTION=true turns it on in production", async () => {
    const on = await startRouter(stack.urls, { development: false, introspection: true });
    try {
      expect(await post(on.url, `{ __type(name: "Query") { name } }`)).toEqual({ status: 200, body: { data: { __type: { name: "Query" } } } });
    } finally {
      await on.close();
    }
  });
});
