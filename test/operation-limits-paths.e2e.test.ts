import WebSocket from "ws";
import { createClient } from "graphql-ws";
import { BATCH_HEADER } from "../common/batch-contract.ts";
import { startRouter, startStack, type Stack } from "./harness.ts";
import { healthDuring } from "./health-during.ts";

// The operation limits hold on every path (common/operation-limits.ts): the router's pass-through and gateway
// answer a refusal alike, as do a GET, a multipart subscription request, and a subgraph called directly (alone,
// in a router batch, over its own graphql-ws). The attacks themselves: operation-limits.e2e.test.ts.

let stack: Stack;
let gatewayOnly: Awaited<ReturnType<typeof startRouter>>;
beforeAll(async () => {
  stack = await startStack();
  gatewayOnly = await startRouter(stack.urls, { passthrough: false });
});
afterAll(async () => {
  await gatewayOnly.close();
  await stack.close();
});

const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as unknown };
};
const refusal = (kind: string, limit: number, value: number) => ({
  status: 400,
  body: { errors: [{ message: expect.any(String), extensions: { code: "OPERATION_LIMIT_EXCEEDED", kind, limit, value } }] },
});
const nested = (levels: number) => `{ products { nodes { ${"stock { product { ".repeat(levels)}id${" } }".repeat(levels)} } } }`;

describe("the pass-through and the gateway refuse alike", () => {
  // A router without the pass-through (every operation on the gateway) answers what the platform's router answers.
  test.each([
    ["tokens", { query: `{ ${"__typename ".repeat(2_000)}}` }],
    ["depth", { query: nested(20) }],
    ["fields", { query: `{ products { nodes { ${"name ".repeat(300)}} } }` }],
    ["cost", { query: "{ products(first: 3000) { nodes { name } } }" }],
    ["NUL", { query: '{ searchProducts(query: "a\\u0000b") { id name } }' }],
    ["NUL variable", { query: "query($q: String!) { searchProducts(query: $q) { id name } }", variables: { q: "\u0000" } }],
  ])("%s", async (_name, body) => {
    const viaRouter = await post(stack.routerUrl, body);
    expect(viaRouter.status).toBe(400);
    expect(await post(gatewayOnly.url, body)).toEqual(viaRouter);
  });
});

test("a GET carries its query in the URL and is refused the same", async () => {
  const url = new URL(stack.routerUrl);
  url.searchParams.set("query", nested(20));
  const { result } = await healthDuring(stack.routerUrl, async () => {
    const response = await fetch(url, { headers: { "apollo-require-preflight": "true" } });
    return { status: response.status, body: (await response.json()) as unknown };
  });
  expect(result).toEqual(refusal("depth", 10, 43));
});

test("a multipart subscription request is refused before it streams", async () => {
  const query = `subscription { stockChanged(productIds: ["1"]) { ${"product { stock { ".repeat(10)}available${" } }".repeat(10)} } }`;
  const { result, slowestMs } = await healthDuring(stack.routerUrl, () =>
    post(stack.routerUrl, { query }, { accept: 'multipart/mixed;subscriptionSpec="1.0", application/json' }),
  );
  expect(result).toEqual(refusal("depth", 10, 22));
  expect(slowestMs).toBeLessThan(200);
});

test("the router still refuses HTTP batches of client operations", async () => {
  const answer = await post(stack.routerUrl, [{ query: "{ __typename }" }, { query: "{ __typename }" }]);
  expect(answer.status).toBe(400);
});

describe("a subgraph called directly", () => {
  // A subgraph's own limits are twice the router's counts (depth one more), so every fetch the router plans passes.
  test("alone: its limits", async () => {
    const { result, slowestMs } = await healthDuring(stack.urls.product!, () => post(stack.urls.product!, { query: nested(20) }));
    expect(result).toEqual(refusal("depth", 11, 43));
    expect(slowestMs).toBeLessThan(200);
    expect(await post(stack.urls.product!, { query: `{ ${"__typename ".repeat(2_001)}}` })).toEqual(refusal("tokens", 2_000, 2_001));
  });

  test("NUL in a literal or a variable", async () => {
    const nul = { status: 400, body: { errors: [{ message: expect.any(String), extensions: { code: "BAD_USER_INPUT", field: "q" } }] } };
    expect(await post(stack.urls.product!, { query: "query($q: String!) { searchProducts(query: $q) { id } }", variables: { q: "\u0000" } })).toEqual(
      nul,
    );
  });

  test("in a router batch, each operation against the limits", async () => {
    const batch = [
      { headers: {}, body: { query: nested(20) } },
      { headers: {}, body: { query: "{ __typename }" } },
    ];
    const answer = await post(stack.urls.product!, batch, { [BATCH_HEADER]: "1" });
    const answers = answer.body as { status: number; body: string }[];
    expect(answers.map((a) => ({ status: a.status, body: JSON.parse(a.body) as unknown }))).toEqual([
      refusal("depth", 11, 43),
      { status: 200, body: { data: { __typename: "Query" } } },
    ]);
  });

  test("over its graphql-ws: the subscription errors with the refusal; an oversized message closes the socket", async () => {
    const url = stack.urls.inventory!.replace(/^http/, "ws");
    const client = createClient({ url, webSocketImpl: WebSocket, lazy: true, retryAttempts: 0 });
    const query = `subscription { stockChanged(productIds: ["1"]) { ${"product { stock { ".repeat(10)}available${" } }".repeat(10)} } }`;
    const errors = await new Promise<unknown>((resolve) => {
      client.subscribe({ query }, { next: () => undefined, error: resolve, complete: () => resolve("completed") });
    });
    expect(errors).toEqual([{ message: expect.any(String), extensions: { code: "OPERATION_LIMIT_EXCEEDED", kind: "depth", limit: 11, value: 22 } }]);
    await client.dispose();

    const socket = new WebSocket(url, "graphql-transport-ws");
    await new Promise((resolve) => socket.once("open", resolve));
    const closed = new Promise<number>((resolve) => socket.once("close", resolve));
    socket.send(JSON.stringify({ type: "connection_init", payload: { pad: "x".repeat(70_000) } }));
    expect(await closed).toBe(1009);
  });
});
