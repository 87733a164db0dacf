import { randomUUID } from "node:crypto";
import http from "node:http";
import { readFileSync } from "node:fs";
import { createPassthrough } from "../router/src/passthrough.ts";
import { createSubscriptionPlanner } from "../router/src/subscriptions/planner.ts";
import { createMetrics } from "../common/metrics.ts";
import { readBody } from "../common/graphql-http.ts";
import { freePort } from "../scripts/ports.ts";
import { SUPERGRAPH_FILE } from "../schema/compose.ts";
import { adminToken, logger, startRouter, startStack, token, uniqueSku, type Stack } from "./harness.ts";
import { Agent } from "undici";

// Operations one subgraph answers alone skip the gateway (router/src/passthrough.ts). A client must not be
// able to tell: the same requests through a router with the pass-through and one without it give the same
// status and the same body.
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

/** A pass-through on its own, for anonymous callers, against the given subgraph URLs. */
const passthroughFor = (subgraphUrls: Record<string, string>, dispatcher: Agent, timeoutMs: number) =>
  createPassthrough({
    planner: createSubscriptionPlanner(readFileSync(SUPERGRAPH_FILE, "utf8")),
    subgraphUrls,
    identityOf: async () => ({ user: null }),
    sign: () => "",
    dispatcher,
    timeoutMs,
    metrics: createMetrics("test"),
    logger,
  });

describe("routing decisions", () => {
  const agent = new Agent();
  afterAll(() => agent.close());
  const { route } = passthroughFor({ product: "http://p", inventory: "http://i", order: "http://o", "flash-sale": "http://f" }, agent, 1_000);
  const serviceOf = (query: string, operationName?: string) => {
    const decided = route({ query, operationName });
    return decided ? decided.serviceName : "gateway";
  };

  test.each([
    ["flashPurchase", `mutation($i: FlashPurchaseInput!) { flashPurchase(input: $i) { id status totalCents } }`, "flash-sale"],
    ["placeOrder", `mutation P($i: PlaceOrderInput!) { placeOrder(input: $i) { id status items { quantity } } }`, "order"],
    ["a product's own fields", `{ product(id: "1") { id name priceCents } }`, "product"],
    ["a product with its stock (two subgraphs)", `{ product(id: "1") { name stock { available } } }`, "gateway"],
    ["an order with product names (two subgraphs)", `{ order(id: "1") { id items { product { name } } } }`, "gateway"],
    ["an invalid document (the gateway reports it)", `{ product(id: "1") { nope } }`, "gateway"],
    ["a syntax error", `{ product(`, "gateway"],
    ["introspection", `{ __schema { queryType { name } } }`, "gateway"],
    ["a subscription", `subscription { stockChanged(productIds: ["1"]) { available } }`, "gateway"],
  ])("%s", (_name, query, expected) => {
    expect(serviceOf(query)).toBe(expected);
  });

  test("a document with several operations is left to the gateway", () => {
    const query = `query A { product(id: "1") { name } } query B { product(id: "1") { stock { available } } }`;
    expect(serviceOf(query, "A")).toBe("gateway");
  });
});

describe("a client cannot tell the pass-through from the gateway", () => {
  const post = async (url: string, body: unknown, bearer?: string) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const same = async (body: unknown, bearer?: string) => {
    const fast = await post(stack.routerUrl, body, bearer);
    const slow = await post(gatewayOnly.url, body, bearer);
    expect(fast).toEqual(slow);
    return fast;
  };

  test("answers, application errors, authorization errors and bad variables are identical", async () => {
    const admin = await adminToken();
    const created = (await stack.gql(`mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`, {
      input: { sku: uniqueSku("PASS"), name: "Pass-through", description: "", priceCents: 1_234, currency: "USD", initialStock: 5 },
    }, { token: admin })).data!.createProduct.id as string;

    const several = await same({ query: `query One($id: ID!) { product(id: $id) { name } } query Two { __typename }`, variables: { id: created }, operationName: "One" });
    expect(several.body).toEqual({ data: { product: { name: "Pass-through" } } });

    const read = await same({ query: `query One($id: ID!) { product(id: $id) { id name priceCents } }`, variables: { id: created }, operationName: "One" });
    expect(read.body).toEqual({ data: { product: { id: created, name: "Pass-through", priceCents: 1_234 } } });

    const missing = await same({ query: `mutation($id: ID!) { cancelOrder(id: $id) { id } }`, variables: { id: randomUUID() } }, await token("pass-user"));
    expect(missing.body).toMatchObject({ errors: [{ extensions: { code: "NOT_FOUND", serviceName: "order" } }] });

    const anonymous = await same({ query: `{ myOrders { nodes { id } } }` });
    expect(anonymous.body).toMatchObject({ errors: [{ extensions: { code: "UNAUTHENTICATED" } }] });

    const forbidden = await same({ query: `mutation($id: ID!) { updateProductPrice(id: $id, priceCents: 1) { id } }`, variables: { id: created } }, await token("pass-user"));
    expect(forbidden.body).toMatchObject({ errors: [{ extensions: { code: "FORBIDDEN" } }] });

    const badVariables = await same({ query: `query($id: ID!) { product(id: $id) { id } }`, variables: { id: { not: "an id" } } });
    expect(badVariables.status).toBe(400);
  });
});

describe("a subgraph that does not answer", () => {
  // A subgraph that accepts connections and never answers, and an address nobody listens on: the router answers
  // INTERNAL_SERVER_ERROR naming the subgraph once its timeout (here 300 ms) passes, or at once.
  const silent = http.createServer(() => undefined);
  const agent = new Agent();
  let router: http.Server;
  let urls: Record<string, string>;
  beforeAll(async () => {
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    urls = { product: `http://127.0.0.1:${await freePort()}/graphql`, inventory: "http://i", order: "http://o", "flash-sale": `http://127.0.0.1:${(silent.address() as { port: number }).port}/graphql` };
    const { intercept } = passthroughFor(urls, agent, 300);
    router = http.createServer(async (req, res) => {
      if (!(await intercept(req, res, await readBody(req)))) res.writeHead(500).end("not routed");
    });
    await new Promise<void>((resolve) => router.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
    await new Promise((resolve) => router.close(resolve));
    await agent.close();
  });
  const ask = async (query: string, variables?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${(router.address() as { port: number }).port}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
    return { status: response.status, body: (await response.json()) as unknown };
  };

  test.each([
    ["a silent subgraph (timeout)", "flash-sale", `mutation($i: FlashPurchaseInput!) { flashPurchase(input: $i) { id } }`, { i: { flashSaleId: randomUUID(), productId: randomUUID(), quantity: 1, idempotencyKey: "k" } }],
    ["an unreachable subgraph", "product", `{ product(id: "1") { id name } }`, undefined],
  ])("%s: INTERNAL_SERVER_ERROR naming it", async (_name, serviceName, query, variables) => {
    expect(await ask(query, variables)).toEqual({ status: 200, body: { data: null, errors: [{ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR", serviceName } }] } });
  });
});
