import { randomUUID } from "node:crypto";
import { BATCH_HEADER, MAX_BATCH } from "../common/batch-contract.ts";
import { ANONYMOUS, type Identity } from "../common/identity.ts";
import { createIdentitySigner, forwardedHeaders } from "../router/src/forwarding.ts";
import { adminToken, config, startRouter, startStack, token, uniqueSku, type Stack } from "./harness.ts";
import { passthroughFor } from "./passthrough-for.ts";
import { createProduct } from "./orders.ts";
import { Agent } from "undici";
import { Histogram } from "prom-client";
import { createSubgraphSender } from "../router/src/subgraph-batch.ts";

// Operations one subgraph answers alone skip the gateway (router/src/passthrough.ts). A client must not be
// able to tell: the same requests through a router with the pass-through and one without it give the same
// status and the same body. Errors (masking, subgraphs that do not answer): passthrough-errors.e2e.test.ts.
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
    const created = (await createProduct(stack.gql, admin, 5, { sku: uniqueSku("PASS"), name: "Pass-through", priceCents: 1_234 })).id;

    const several = await same({
      query: `query One($id: ID!) { product(id: $id) { name } } query Two { __typename }`,
      variables: { id: created },
      operationName: "One",
    });
    expect(several.body).toEqual({ data: { product: { name: "Pass-through" } } });

    const read = await same({
      query: `query One($id: ID!) { product(id: $id) { id name priceCents } }`,
      variables: { id: created },
      operationName: "One",
    });
    expect(read.body).toEqual({ data: { product: { id: created, name: "Pass-through", priceCents: 1_234 } } });

    const missing = await same(
      { query: `mutation($id: ID!) { cancelOrder(id: $id) { id } }`, variables: { id: randomUUID() } },
      await token("pass-user"),
    );
    expect(missing.body).toMatchObject({ errors: [{ extensions: { code: "NOT_FOUND", serviceName: "order" } }] });

    const anonymous = await same({ query: `{ myOrders { nodes { id } } }` });
    expect(anonymous.body).toMatchObject({ errors: [{ extensions: { code: "UNAUTHENTICATED" } }] });

    const forbidden = await same(
      { query: `mutation($id: ID!) { updateProductPrice(id: $id, priceCents: 1) { id } }`, variables: { id: created } },
      await token("pass-user"),
    );
    expect(forbidden.body).toMatchObject({ errors: [{ extensions: { code: "FORBIDDEN" } }] });

    const badVariables = await same({ query: `query($id: ID!) { product(id: $id) { id } }`, variables: { id: { not: "an id" } } });
    expect(badVariables.status).toBe(400);
  });

  test("refusals of the operation limits are identical (before either path runs)", async () => {
    const refusals = [
      { query: `{ products { nodes { ${"name ".repeat(300)}} } }` },
      { query: "{ products(first: 3000) { nodes { name } } }" },
      { query: "query($q: String!) { searchProducts(query: $q) { id } }", variables: { q: "a\u0000b" } },
    ];
    const codes = [];
    for (const body of refusals) codes.push(((await same(body)).body as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code);
    expect(codes).toEqual(["OPERATION_LIMIT_EXCEEDED", "OPERATION_LIMIT_EXCEEDED", "BAD_USER_INPUT"]);
  });

  test("operations sent at once each get the answer the gateway gives them", async () => {
    const admin = await adminToken();
    const created = (await createProduct(stack.gql, admin, 5, { sku: uniqueSku("BATCH"), name: "Batched", priceCents: 500 })).id;
    const user = await token("batch-user");
    const requests: [unknown, string?][] = [];
    for (let i = 0; i < 6; i++) {
      requests.push([{ query: `query($id: ID!) { product(id: $id) { id name priceCents } }`, variables: { id: created } }]);
      requests.push([{ query: `{ myOrders { nodes { id } } }` }]);
      requests.push([{ query: `{ myOrders { nodes { id } } }` }, user]);
      requests.push([{ query: `mutation($id: ID!) { updateProductPrice(id: $id, priceCents: 1) { id } }`, variables: { id: created } }, user]);
      requests.push([{ query: `query($id: ID!) { product(id: $id) { id } }`, variables: { id: { not: "an id" } } }]);
    }
    const together = await Promise.all(requests.map(([body, bearer]) => post(stack.routerUrl, body, bearer)));
    for (const [i, [body, bearer]] of requests.entries()) expect(together[i]).toEqual(await post(gatewayOnly.url, body, bearer));
    expect(together.filter((r) => r.status === 400)).toHaveLength(6);
  });
});

describe("subgraph batches", () => {
  // Operations sent in the same turn of the event loop go to their subgraph as one request (subgraph-batch.ts).
  // Each must get exactly what it would get alone: its own identity, status and body.
  const agent = new Agent();
  afterAll(() => agent.close());
  const histogram = () => new Histogram({ name: "test_batch_size", help: "-", labelNames: ["subgraph"], registers: [] });
  const observed = async (h: Histogram<"subgraph">, subgraph: string) => {
    const values = (await h.get()).values.filter((v) => v.labels.subgraph === subgraph);
    return {
      requests: values.find((v) => v.metricName === "test_batch_size_count")?.value ?? 0,
      operations: values.find((v) => v.metricName === "test_batch_size_sum")?.value ?? 0,
    };
  };
  const to = (serviceName: string) => {
    const { origin, pathname } = new URL(stack.urls[serviceName]!);
    return { serviceName, origin, path: pathname };
  };

  test("operations of one turn are one request per subgraph, and each answer is the one it gets alone", async () => {
    const admin = await adminToken();
    const created = (await createProduct(stack.gql, admin, 5, { sku: uniqueSku("BATCH"), name: "Batched", priceCents: 700 })).id;
    const sign = createIdentitySigner(config.INTERNAL_SECRET);
    const buyer: Identity = { user: { id: `batch-${randomUUID()}`, roles: [], isAdmin: false } };
    const ops: [string, Identity, unknown][] = [];
    for (let i = 0; i < 3; i++) {
      ops.push(["product", ANONYMOUS, { query: `query($id: ID!) { product(id: $id) { id name priceCents } }`, variables: { id: created } }]);
      ops.push(["product", buyer, { query: `mutation($id: ID!) { updateProductPrice(id: $id, priceCents: 1) { id } }`, variables: { id: created } }]);
      ops.push(["product", ANONYMOUS, { query: `query($id: ID!) { product(id: $id) { id } }`, variables: { id: { not: "an id" } } }]);
      ops.push(["order", ANONYMOUS, { query: `{ myOrders { nodes { id } } }` }]);
      ops.push(["order", buyer, { query: `{ myOrders { nodes { id } } }` }]);
    }
    const send = (sender: ReturnType<typeof createSubgraphSender>, [name, identity, body]: [string, Identity, unknown], n: number) =>
      sender(
        to(name),
        { "content-type": "application/json", ...forwardedHeaders(sign, { identity, requestId: `batch-test-${n}`, clientIp: "10.1.2.3" }) },
        JSON.stringify(body),
      );
    const batchSize = histogram();
    const batched = createSubgraphSender({ dispatcher: agent, timeoutMs: 5_000, batches: () => true, batchSize });
    const alone = createSubgraphSender({ dispatcher: agent, timeoutMs: 5_000, batches: () => false, batchSize: histogram() });

    const together = await Promise.all(ops.map((op, n) => send(batched, op, n)));
    expect(await observed(batchSize, "product")).toEqual({ requests: 1, operations: 9 });
    expect(await observed(batchSize, "order")).toEqual({ requests: 1, operations: 6 });
    for (const [n, op] of ops.entries()) {
      const single = await send(alone, op, n);
      expect({ status: together[n]!.status, body: JSON.parse(together[n]!.text) }).toEqual({ status: single.status, body: JSON.parse(single.text) });
    }
    expect(together.map((a) => a.status)).toEqual(
      ops.map(([, , body]) => ((body as { variables?: { id?: unknown } }).variables?.id instanceof Object ? 400 : 200)),
    );
    expect(JSON.parse(together[1]!.text).errors[0].extensions.code).toBe("FORBIDDEN");
    expect(JSON.parse(together[3]!.text).errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expect(JSON.parse(together[4]!.text)).toEqual({ data: { myOrders: { nodes: [] } } });
  });

  test("a subgraph refuses a malformed or oversized batch with 400", async () => {
    const url = stack.urls.product!;
    const ask = async (body: unknown) =>
      (await fetch(url, { method: "POST", headers: { "content-type": "application/json", [BATCH_HEADER]: "1" }, body: JSON.stringify(body) })).status;
    expect(await ask({ query: "{ __typename }" })).toBe(400);
    expect(await ask([])).toBe(400);
    expect(await ask([{ body: { query: "{ __typename }" } }])).toBe(400);
    expect(await ask(Array.from({ length: MAX_BATCH + 1 }, () => ({ headers: {}, body: { query: "{ __typename }" } })))).toBe(400);
    expect(await ask([{ headers: {}, body: { query: "{ __typename }" } }])).toBe(200);
  });
});
