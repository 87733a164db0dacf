import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Counter } from "prom-client";
import { adminToken, startRouter, startStack, token, type Stack } from "./harness.ts";
import { createProduct, line, orderInput } from "./orders.ts";
import { corpus, type Case, type Caller, type Fixtures } from "./executor-corpus.ts";
import { startTamperingSubgraph, type Tamper } from "./tampering-subgraph.ts";
import { createSale, purchaseInput } from "../subgraphs/flash-sale/test/support.ts";
import { createSubscriptionPlanner } from "../router/src/subscriptions/planner.ts";
import { SUPERGRAPH_FILE } from "../schema/compose.ts";

// The router's own plan executor (router/src/executor/) must answer exactly as @apollo/gateway does: the same
// requests through a router on each, over the same running subgraphs, give the same status, content type and
// body, byte for byte. The corpus (executor-corpus.ts) is every operation the tests, docs, benches and
// storefront send plus generated ones; subgraphs that misbehave (errors with paths, nulls, wrong types, failed
// calls) are played by a tampering proxy in front of the real ones.

type Router = Awaited<ReturnType<typeof startRouter>>;

let stack: Stack;
let gateway: Router;
let executor: Router;
let fixtures: Fixtures;
const tokens = {} as Record<Caller, string | undefined>;

beforeAll(async () => {
  stack = await startStack();
  gateway = await startRouter(stack.urls, { passthrough: false, executor: "gateway" });
  executor = await startRouter(stack.urls, { passthrough: false, executor: "executor" });
  const userId = `exec-${randomUUID()}`;
  tokens.anonymous = undefined;
  tokens.admin = await adminToken();
  tokens.user = await token(userId);
  tokens.other = await token(`other-${randomUUID()}`);
  const searchWord = `exq${randomUUID().slice(0, 8)}`;
  const productA = await createProduct(stack.gql, tokens.admin, 50, { name: `Executor ${searchWord}`, priceCents: 1_500 });
  const productB = await createProduct(stack.gql, tokens.admin, 50);
  const key = randomUUID();
  const placed = await stack.gql(
    `mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id } }`,
    { i: orderInput([line(productA), line(productB, 2)], key) },
    { token: tokens.user },
  );
  const cancelled = await stack.gql(
    `mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id } }`,
    { i: orderInput([line(productA)]) },
    { token: tokens.user },
  );
  const cancelledOrderId = cancelled.data!.placeOrder.id as string;
  await stack.gql(`mutation($id: ID!) { cancelOrder(id: $id) { id } }`, { id: cancelledOrderId }, { token: tokens.user });
  const sale = await createSale(stack.gql, tokens.admin, [{ productId: productB.id, quantity: 10 }]);
  const ended = await createSale(stack.gql, tokens.admin, [{ productId: productA.id, quantity: 2 }]);
  await stack.gql(`mutation($id: ID!) { endFlashSale(id: $id) { id } }`, { id: ended.id }, { token: tokens.admin });
  const flashKey = randomUUID();
  const purchased = await stack.gql(
    `mutation($i: FlashPurchaseInput!) { flashPurchase(input: $i) { id } }`,
    { i: purchaseInput(sale.id, productB.id, 1, flashKey) },
    { token: tokens.user },
  );
  if (placed.errors || purchased.errors) throw new Error(`fixtures: ${JSON.stringify([placed.errors, purchased.errors])}`);
  fixtures = {
    productA: { ...productA, name: `Executor ${searchWord}` },
    productB,
    order: { id: placed.data!.placeOrder.id, key },
    cancelledOrderId,
    saleId: sale.id,
    endedSaleId: ended.id,
    flash: { id: purchased.data!.flashPurchase.id, key: flashKey },
    searchWord,
  };
}, 60_000);

afterAll(async () => {
  await executor?.close();
  await gateway?.close();
  await stack?.close();
});

interface Answer {
  status: number;
  /** Every response header but `date`. */
  headers: Record<string, string>;
  body: string;
}

async function post(url: string, c: Case, requestId: string): Promise<Answer> {
  const bearer = tokens[c.as ?? "anonymous"];
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-request-id": requestId,
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      ...c.headers,
    },
    body: JSON.stringify({ query: c.query, variables: c.variables, operationName: c.operationName }),
  });
  return {
    status: response.status,
    headers: Object.fromEntries([...response.headers].filter(([name]) => name !== "date")),
    body: await response.text(),
  };
}

const counted = async (router: Router, name: string) => {
  const metric = router.router.metrics.registry.getSingleMetric(name) as Counter | undefined;
  return ((await metric?.get())?.values ?? []).reduce((sum, v) => sum + v.value, 0);
};

/** Which path of the executor router answered: its own executor, the gateway (a counted fallback) or neither. */
const pathOf = async (router: Router, send: () => Promise<Answer>) => {
  const [runs, fallbacks] = [await counted(router, "router_executor_operations_total"), await counted(router, "router_executor_fallbacks_total")];
  const answer = await send();
  if ((await counted(router, "router_executor_operations_total")) > runs) return { answer, path: "executor" };
  return { answer, path: (await counted(router, "router_executor_fallbacks_total")) > fallbacks ? "fallback" : "multipart" };
};

interface Difference {
  name: string;
  gateway?: Answer;
  executor?: Answer;
  path?: string;
}

/**
 * Sends `c` to the gateway, then the executor; when they differ, to the gateway again, in case the state moved
 * in between (an order expiring, a flash order written): the executor's answer must equal one of the gateway's.
 */
async function compare(c: Case, pair: { gateway: Router; executor: Router }): Promise<Difference | undefined> {
  const requestId = `eq-${randomUUID()}`;
  const first = await post(pair.gateway.url, c, requestId);
  const { answer: mine, path } = await pathOf(pair.executor, () => post(pair.executor.url, c, requestId));
  if (path !== (c.path ?? "executor")) return { name: c.name, path, executor: mine, gateway: first };
  if (JSON.stringify(first) === JSON.stringify(mine)) return undefined;
  const again = await post(pair.gateway.url, c, requestId);
  if (JSON.stringify(again) === JSON.stringify(mine)) return undefined;
  return { name: c.name, gateway: again, executor: mine };
}

test("every operation of the corpus answers the same on the executor as on the gateway", async () => {
  const schema = createSubscriptionPlanner(readFileSync(SUPERGRAPH_FILE, "utf8")).schema;
  const cases = corpus(fixtures, schema);
  const differences: Difference[] = [];
  for (const c of cases) {
    const difference = await compare(c, { gateway, executor });
    if (difference) differences.push(difference);
  }
  expect(differences).toEqual([]);
  expect(cases.length).toBeGreaterThan(100);
}, 180_000);

test("in-flight identical fetches are shared per identity, and answers stay the gateway's", async () => {
  const c: Case = {
    name: "burst",
    query: "query($id: ID!) { product(id: $id) { name stock { available } } }",
    variables: { id: fixtures.productA.id },
  };
  const expected = await post(gateway.url, c, "burst");
  const sharedOf = async () =>
    (await executor.router.metrics.registry.getSingleMetric("router_executor_shared_fetches_total")?.get())?.values[0]?.value ?? 0;
  const before = await sharedOf();
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(executor.url, { ...c, as: i % 2 ? "user" : "other" }, "burst")));
  for (const answer of answers) expect(answer).toEqual(expected);
  expect(await sharedOf()).toBeGreaterThan(before);
});

// --- subgraphs that misbehave ---

const isEntityFetch = (request: { query: string }) => request.query.includes("_entities");
const json = (answer: unknown, status = 200) => ({ status, body: JSON.stringify(answer) });
const entitiesOf = (answer: Record<string, any>): any[] => answer.data?._entities ?? [];

/** Tampers with entity fetches only; every other operation passes unchanged. */
const onEntities =
  (tamper: Tamper): Tamper =>
  (request, answer) =>
    isEntityFetch(request) ? tamper(request, answer) : json(answer);

const FAULTS: {
  name: string;
  subgraph: "inventory" | "product";
  tamper: Tamper;
  query?: string;
  variables?: (f: Fixtures) => Record<string, unknown>;
}[] = [
  {
    name: "entity errors with paths and null entities",
    subgraph: "inventory",
    tamper: onEntities((_r, answer) => {
      const entities = entitiesOf(answer);
      const errors = entities.flatMap((_e, i) =>
        i % 2
          ? [
              {
                message: "Stock unavailable",
                locations: [{ line: 1, column: 2 }],
                path: ["_entities", i, "stock"],
                extensions: { code: "NOT_FOUND" },
              },
            ]
          : [],
      );
      entities.forEach((_e, i) => i % 2 && (entities[i] = null));
      return json({ ...answer, errors });
    }),
  },
  {
    name: "a null in a non-null field, no errors (valueCompletion)",
    subgraph: "inventory",
    tamper: onEntities((_r, answer) => {
      const first = entitiesOf(answer)[0];
      if (first?.stock) first.stock.available = null;
      return json(answer);
    }),
  },
  {
    name: "an unknown __typename",
    subgraph: "inventory",
    tamper: onEntities((_r, answer) => {
      const first = entitiesOf(answer)[0];
      if (first) first.__typename = "Nope";
      return json(answer);
    }),
  },
  {
    name: "entities without __typename",
    subgraph: "inventory",
    tamper: onEntities((_r, answer) => {
      for (const entity of entitiesOf(answer)) delete entity?.__typename;
      return json(answer);
    }),
  },
  {
    name: "a leaf of the wrong type",
    subgraph: "inventory",
    tamper: onEntities((_r, answer) => {
      const first = entitiesOf(answer)[0];
      if (first?.stock) first.stock.available = "many";
      return json(answer);
    }),
  },
  { name: "one entity short", subgraph: "inventory", tamper: onEntities((_r, answer) => (entitiesOf(answer).pop(), json(answer))) },
  { name: "_entities not a list", subgraph: "inventory", tamper: onEntities(() => json({ data: { _entities: null } })) },
  {
    name: "data null with an error",
    subgraph: "inventory",
    tamper: onEntities(() => json({ data: null, errors: [{ message: "down", extensions: { code: "NOT_FOUND" } }] })),
  },
  {
    name: "an error without a path (masked, with serviceName)",
    subgraph: "inventory",
    tamper: onEntities((_r, answer) => json({ ...answer, errors: [{ message: "secret detail", extensions: { code: "INTERNAL_SERVER_ERROR" } }] })),
  },
  {
    name: "a public error with extensions and an empty message",
    subgraph: "inventory",
    tamper: onEntities((_r, answer) =>
      json({
        ...answer,
        errors: [{ message: "", path: ["_entities", 0, "stock", "available"], extensions: { code: "OUT_OF_STOCK", available: 0 } }],
      }),
    ),
  },
  {
    name: "an error with a federation code",
    subgraph: "inventory",
    tamper: onEntities((_r, answer) =>
      json({ ...answer, errors: [{ message: "x", path: ["_entities", 1], extensions: { code: "INVALID_GRAPHQL" } }] }),
    ),
  },
  { name: "HTTP 401 with a JSON body", subgraph: "inventory", tamper: onEntities(() => json({ errors: [{ message: "who?" }] }, 401)) },
  {
    name: "HTTP 403 with a text body",
    subgraph: "inventory",
    tamper: onEntities(() => ({ status: 403, contentType: "text/plain", body: "forbidden" })),
  },
  { name: "HTTP 500 with HTML", subgraph: "inventory", tamper: onEntities(() => ({ status: 500, contentType: "text/html", body: "<h1>oops</h1>" })) },
  { name: "200 that is not JSON", subgraph: "inventory", tamper: onEntities(() => ({ status: 200, contentType: "text/plain", body: "not json" })) },
  { name: "200 with a JSON list", subgraph: "inventory", tamper: onEntities(() => json([1, 2])) },
  {
    name: "a root fetch error with a path into a list",
    subgraph: "product",
    tamper: (request, answer) => {
      const nodes = answer.data?.products?.nodes;
      if (isEntityFetch(request) || !nodes?.[1]) return json(answer);
      nodes[1].name = null;
      return json({ ...answer, errors: [{ message: "name hidden", path: ["products", "nodes", 1, "name"], extensions: { code: "FORBIDDEN" } }] });
    },
  },
  {
    name: "a root fetch null in a non-null field (valueCompletion), then entities",
    subgraph: "product",
    tamper: (request, answer) => {
      const nodes = answer.data?.products?.nodes;
      if (isEntityFetch(request) || !nodes?.[0]) return json(answer);
      nodes[0].priceCents = null;
      return json(answer);
    },
  },
  {
    name: "a list answered as an object under a join (the plan throws: 500)",
    subgraph: "product",
    tamper: (request, answer) => {
      const products = answer.data?.products;
      if (isEntityFetch(request) || !products?.nodes) return json(answer);
      products.nodes = products.nodes[0] ?? {};
      return json(answer);
    },
  },
  {
    name: "a list answered as an object, nothing to join (the shaping throws: 400)",
    subgraph: "product",
    query: "{ products(first: 2) { nodes { id name } } }",
    tamper: (request, answer) => {
      const products = answer.data?.products;
      if (isEntityFetch(request) || !products?.nodes) return json(answer);
      products.nodes = products.nodes[0] ?? {};
      return json(answer);
    },
  },
  {
    name: "a product entity fetch for an order with errors (hydrated paths)",
    subgraph: "product",
    query: "query($id: ID!) { order(id: $id) { id items { quantity product { id name stock { available } } } } }",
    variables: (f) => ({ id: f.order.id }),
    tamper: onEntities((_r, answer) => {
      const entities = entitiesOf(answer);
      entities[0] = null;
      return json({ ...answer, errors: [{ message: "gone", path: ["_entities", 0, "name"], extensions: { code: "NOT_FOUND" } }] });
    }),
  },
];

describe("subgraphs that misbehave", () => {
  let product: Awaited<ReturnType<typeof startTamperingSubgraph>>;
  let inventory: Awaited<ReturnType<typeof startTamperingSubgraph>>;
  let pair: { gateway: Router; executor: Router };
  let dead: { gateway: Router; executor: Router };
  beforeAll(async () => {
    product = await startTamperingSubgraph(stack.urls.product!);
    inventory = await startTamperingSubgraph(stack.urls.inventory!);
    const urls = { ...stack.urls, product: product.url, inventory: inventory.url };
    pair = {
      gateway: await startRouter(urls, { passthrough: false, executor: "gateway", subgraphBatching: "none" }),
      executor: await startRouter(urls, { passthrough: false, executor: "executor", subgraphBatching: "none" }),
    };
    const deadUrls = { ...stack.urls, inventory: "http://127.0.0.1:9/graphql" };
    dead = {
      gateway: await startRouter(deadUrls, { passthrough: false, executor: "gateway" }),
      executor: await startRouter(deadUrls, { passthrough: false, executor: "executor" }),
    };
  });
  afterAll(async () => {
    for (const router of [pair?.gateway, pair?.executor, dead?.gateway, dead?.executor]) await router?.close();
    await product?.close();
    await inventory?.close();
  });

  const LIST = "{ products(first: 3) { nodes { id name priceCents stock { available reserved } } } }";

  test.each(FAULTS)("$name", async ({ subgraph, tamper, query, variables }) => {
    const fake = subgraph === "product" ? product : inventory;
    fake.set(tamper);
    try {
      const c: Case = { name: "fault", query: query ?? LIST, variables: variables?.(fixtures), as: "user" };
      expect(await compare(c, pair)).toBeUndefined();
      const single: Case = {
        name: "fault",
        query: "query($id: ID!) { product(id: $id) { name stock { available } } }",
        variables: { id: fixtures.productA.id },
      };
      expect(await compare(single, pair)).toBeUndefined();
    } finally {
      fake.set(undefined);
    }
  });

  test("a subgraph that does not answer", async () => {
    for (const query of [
      LIST,
      `{ product(id: "0") { name stock { available } } }`,
      '{ stock(productId: "1") { available } products(first: 1) { nodes { id } } }',
    ]) {
      expect(await compare({ name: "dead", query }, dead)).toBeUndefined();
    }
  });
});
