import { randomUUID } from "node:crypto";
import { ApolloClient, gql as parseGql, HttpLink, InMemoryCache } from "@apollo/client";
import { Defer20220824Handler } from "@apollo/client/incremental";
import { adminToken, startRouter, startStack, token, type Stack } from "./harness.ts";
import { createProduct, line, orderInput, PLACE_ORDER } from "./orders.ts";
import { startTamperingSubgraph } from "./tampering-subgraph.ts";

// @defer through the running router, as Apollo Router serves it: streamed over
// `multipart/mixed;deferSpec=20220824` to a client that accepts it (Apollo Client 4's HttpLink with its
// Defer20220824Handler, or a raw request), refused with 406 DEFER_BAD_HEADER to one that does not.

const PRODUCT_PAGE = `query DeferredStock($id: ID!) { product(id: $id) { name ... @defer { stock { available } } } }`;
const MULTIPART_ACCEPT = "multipart/mixed;deferSpec=20220824,application/graphql-response+json,application/json;q=0.9";

let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack();
  admin = await adminToken();
});
afterAll(() => stack.close());

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() };
}

/** The JSON parts of a multipart body, checking its framing (the delimiters, each part's content type, the close). */
function partsOf(text: string): any[] {
  expect(text.startsWith("\r\n--graphql\r\n")).toBe(true);
  expect(text.endsWith("\r\n--graphql--\r\n")).toBe(true);
  return text
    .slice("\r\n--graphql\r\n".length, -"\r\n--graphql--\r\n".length)
    .split("\r\n--graphql\r\n")
    .map((part) => {
      const [headers, json] = part.split("\r\n\r\n");
      expect(headers).toBe("content-type: application/json");
      return JSON.parse(json!);
    });
}

test("Apollo Client 4 (HttpLink, Defer20220824Handler) sees the product without stock first, then with it", async () => {
  const product = await createProduct(stack.gql, admin, 6, { name: "Deferred lamp" });
  const client = new ApolloClient({
    link: new HttpLink({ uri: stack.routerUrl }),
    cache: new InMemoryCache(),
    incrementalHandler: new Defer20220824Handler(),
  });
  const results: { dataState: string; data: unknown }[] = [];
  await new Promise<void>((resolve, reject) => {
    const subscription = client.watchQuery({ query: parseGql(PRODUCT_PAGE), variables: { id: product.id }, fetchPolicy: "network-only" }).subscribe({
      next: (result) => {
        if (result.loading && result.data === undefined) return;
        results.push({ dataState: result.dataState, data: result.data });
        if (result.dataState === "complete") {
          subscription.unsubscribe();
          resolve();
        }
      },
      error: reject,
    });
  });
  expect(results).toEqual([
    { dataState: "streaming", data: { product: { __typename: "Product", name: "Deferred lamp" } } },
    { dataState: "complete", data: { product: { __typename: "Product", name: "Deferred lamp", stock: { __typename: "Stock", available: 6 } } } },
  ]);
  client.stop();
});

test("the raw response: the catalogue part, then the stock part, framed as Apollo Router frames them", async () => {
  const product = await createProduct(stack.gql, admin, 4, { name: "Raw lamp" });
  const res = await fetch(stack.routerUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "multipart/mixed;deferSpec=20220824" },
    body: JSON.stringify({ query: PRODUCT_PAGE, variables: { id: product.id } }),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe('multipart/mixed;boundary="graphql";deferSpec=20220824');
  expect(res.headers.get("cache-control")).toBe("no-store");
  // The first part is readable before the response ends.
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes('"hasNext":true}\r\n--graphql')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`ended before its first part: ${text}`);
    text += decoder.decode(value, { stream: true });
  }
  expect(text.startsWith('\r\n--graphql\r\ncontent-type: application/json\r\n\r\n{"data":{"product":{"name":"Raw lamp"}},"hasNext":true}')).toBe(
    true,
  );
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
  expect(partsOf(text)).toEqual([
    { data: { product: { name: "Raw lamp" } }, hasNext: true },
    { hasNext: false, incremental: [{ data: { stock: { available: 4 } }, path: ["product"] }] },
  ]);
});

test("a client that goes away after the first part: the router carries on serving", async () => {
  const product = await createProduct(stack.gql, admin, 2, { name: "Abandoned lamp" });
  const controller = new AbortController();
  const res = await fetch(stack.routerUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: MULTIPART_ACCEPT },
    body: JSON.stringify({ query: PRODUCT_PAGE, variables: { id: product.id } }),
    signal: controller.signal,
  });
  const first = await res.body!.getReader().read();
  expect(new TextDecoder().decode(first.value)).toContain('{"data":{"product":{"name":"Abandoned lamp"}},"hasNext":true}');
  controller.abort();
  const after = await post(stack.routerUrl, { query: PRODUCT_PAGE, variables: { id: product.id } }, { accept: MULTIPART_ACCEPT });
  expect(partsOf(after.text)[1]).toEqual({ hasNext: false, incremental: [{ data: { stock: { available: 2 } }, path: ["product"] }] });
});

test("labels and list paths: one item per product of the page", async () => {
  const [a, b] = [await createProduct(stack.gql, admin, 2), await createProduct(stack.gql, admin, 3)];
  const query = `query($a: ID!, $b: ID!) { a: product(id: $a) { id ... @defer(label: "a") { stock { available } } } b: product(id: $b) { id } }`;
  const res = await post(stack.routerUrl, { query, variables: { a: a.id, b: b.id } }, { accept: MULTIPART_ACCEPT });
  expect(partsOf(res.text)).toEqual([
    { data: { a: { id: a.id }, b: { id: b.id } }, hasNext: true },
    { hasNext: false, incremental: [{ label: "a", data: { stock: { available: 2 } }, path: ["a"] }] },
  ]);
  const page = await post(
    stack.routerUrl,
    { query: `{ products(first: 2) { nodes { id ... @defer { stock { available } } } } }` },
    { accept: MULTIPART_ACCEPT },
  );
  const [first, second] = partsOf(page.text);
  expect(first.data.products.nodes).toHaveLength(2);
  expect(second.incremental.map((item: any) => item.path)).toEqual([
    ["products", "nodes", 0],
    ["products", "nodes", 1],
  ]);
});

test("a subgraph error inside the deferred part arrives in its incremental payload; the primary data stands", async () => {
  const product = await createProduct(stack.gql, admin, 5, { name: "Fragile lamp" });
  const inventory = await startTamperingSubgraph(stack.urls.inventory!);
  const router = await startRouter({ ...stack.urls, inventory: inventory.url }, { subgraphBatching: "none" });
  try {
    inventory.set((request, answer) =>
      request.query.includes("_entities")
        ? {
            status: 200,
            body: JSON.stringify({
              data: { _entities: [null] },
              errors: [{ message: "Stock is unavailable", path: ["_entities", 0, "stock"], extensions: { code: "NOT_FOUND" } }],
            }),
          }
        : { status: 200, body: JSON.stringify(answer) },
    );
    const res = await post(router.url, { query: PRODUCT_PAGE, variables: { id: product.id } }, { accept: MULTIPART_ACCEPT });
    expect(res.status).toBe(200);
    expect(partsOf(res.text)).toEqual([
      { data: { product: { name: "Fragile lamp" } }, hasNext: true },
      {
        hasNext: false,
        incremental: [
          {
            // stock is `Stock!`: its null takes the deferred part's object, not the product the first part sent.
            data: null,
            path: ["product"],
            errors: [{ message: "Stock is unavailable", path: ["product", "stock"], extensions: { code: "NOT_FOUND", serviceName: "inventory" } }],
          },
        ],
      },
    ]);
  } finally {
    await router.close();
    await inventory.close();
  }
});

test("a client without the multipart Accept gets Apollo Router's 406 DEFER_BAD_HEADER; with @defer(if: false), plain JSON", async () => {
  const product = await createProduct(stack.gql, admin, 1);
  for (const accept of [undefined, "application/json", "application/graphql-response+json,application/json;q=0.9"]) {
    const res = await post(stack.routerUrl, { query: PRODUCT_PAGE, variables: { id: product.id } }, accept ? { accept } : {});
    expect({ status: res.status, contentType: res.contentType }).toEqual({ status: 406, contentType: "application/json; charset=utf-8" });
    expect(JSON.parse(res.text)).toEqual({
      errors: [
        {
          message:
            "the router received a query with the @defer directive but the client does not accept multipart/mixed HTTP responses. To enable @defer support, add the HTTP header 'Accept: multipart/mixed;deferSpec=20220824'",
          extensions: { code: "DEFER_BAD_HEADER" },
        },
      ],
    });
  }
  const notDeferred = `query($id: ID!, $d: Boolean!) { product(id: $id) { name ... @defer(if: $d) { stock { available } } } }`;
  for (const accept of [undefined, MULTIPART_ACCEPT]) {
    const res = await post(stack.routerUrl, { query: notDeferred, variables: { id: product.id, d: false } }, accept ? { accept } : {});
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ data: { product: { name: "Limited sneaker", stock: { available: 1 } } } });
  }
});

test("the caller's identity reaches the deferred fetches' subgraphs, and the operation limits hold", async () => {
  const product = await createProduct(stack.gql, admin, 3, { name: "Owned lamp" });
  const shopper = await token(`shopper-${randomUUID()}`);
  const placed = await stack.gql(PLACE_ORDER, { input: orderInput([line(product)]) }, { token: shopper });
  const orderId = placed.data!.placeOrder.id as string;
  // The deferred part re-reads each order as an entity: the order subgraph shows an order to its owner only.
  const query = `{ myOrders(first: 5) { nodes { id ... @defer { status items { product { name } } } } } }`;
  const signedIn = await post(stack.routerUrl, { query }, { accept: MULTIPART_ACCEPT, authorization: `Bearer ${shopper}` });
  expect(partsOf(signedIn.text)).toEqual([
    { data: { myOrders: { nodes: [{ id: orderId }] } }, hasNext: true },
    { hasNext: false, incremental: [{ data: { status: "RESERVED", items: [{ product: { name: "Owned lamp" } }] }, path: ["myOrders", "nodes", 0] }] },
  ]);
  const anonymous = partsOf((await post(stack.routerUrl, { query }, { accept: MULTIPART_ACCEPT })).text);
  expect(anonymous[0].errors[0].extensions.code).toBe("UNAUTHENTICATED");

  const aliases = Array.from({ length: 16 }, (_, i) => `p${i}: products(first: 1) { nodes { id ... @defer { name } } }`).join(" ");
  const refused = await post(stack.routerUrl, { query: `{ ${aliases} }` }, { accept: MULTIPART_ACCEPT });
  expect(refused.status).toBe(400);
  expect(JSON.parse(refused.text).errors[0].extensions).toMatchObject({ code: "OPERATION_LIMIT_EXCEEDED", kind: "aliases" });
});
