import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, ApolloLink } from "@apollo/client";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import type { Counter } from "prom-client";
import { adminToken, startRouter, startStack, token, type Stack } from "./harness.ts";
import { createProduct } from "./orders.ts";
import { received } from "./wait.ts";
import { documentIdOf, parseManifest, PERSISTED_DOCUMENTS_FILE } from "../schema/persisted-documents.ts";
import { createPersistedLink } from "../web/src/persisted-link.ts";
import { CatalogueDocument, MyOrdersDocument, ProductPageDocument } from "../web/src/gql/graphql.ts";

// The committed manifest served by routers in both modes, with the storefront's own Apollo Client link
// (web/src/persisted-link.ts) and with raw APQ / documentId requests over POST, GET and WebSocket.
const manifest = parseManifest(readFileSync(PERSISTED_DOCUMENTS_FILE, "utf8"));
const byName = (name: string) => manifest.operations.find((o) => o.name === name)!;

let stack: Stack;
let admin: string;
let required: Awaited<ReturnType<typeof startRouter>>;
let optional: Awaited<ReturnType<typeof startRouter>>;
const sockets: Client[] = [];
beforeAll(async () => {
  stack = await startStack({ relay: true });
  admin = await adminToken();
  required = await startRouter(stack.urls, { persistedDocuments: { mode: "required", manifest } });
  optional = await startRouter(stack.urls, { persistedDocuments: { mode: "optional", manifest } });
});
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
  await required.close();
  await optional.close();
  await stack.close();
});

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

const apq = (sha256Hash: string) => ({ persistedQuery: { version: 1, sha256Hash } });
const codeOf = (body: any) => body.errors?.[0]?.extensions?.code;

/** The storefront's HTTP chain (web/src/apollo.ts): its persisted-documents link in front of HttpLink; `sent` records each body. */
function storefrontClient(url: string, userToken?: string) {
  const sent: any[] = [];
  const recordingFetch: typeof fetch = (input, init) => (sent.push(JSON.parse(String(init?.body))), fetch(input, init));
  const link = ApolloLink.from([
    createPersistedLink(manifest),
    new HttpLink({ uri: url, headers: userToken ? { authorization: `Bearer ${userToken}` } : {}, fetch: recordingFetch }),
  ]);
  return Object.assign(new ApolloClient({ link, cache: new InMemoryCache() }), { sent });
}

test("the committed manifest holds the storefront's operations, each id the sha256 of its body", () => {
  expect(manifest.format).toBe("apollo-persisted-query-manifest");
  expect(manifest.operations.map((o) => o.name)).toEqual(
    expect.arrayContaining(["Catalogue", "ProductPage", "PlaceOrder", "StockLive", "OrderLive"]),
  );
  for (const operation of manifest.operations) expect(operation.id).toBe(documentIdOf(operation.body));
});

test("the storefront's Apollo Client works against a router that requires persisted documents", async () => {
  const product = await createProduct(stack.gql, admin, 6, { name: "Persisted lamp" });
  const client = storefrontClient(required.url, await token(`shopper-${randomUUID()}`));
  const page = await client.query({ query: ProductPageDocument, variables: { id: product.id } });
  expect(page.data?.product).toMatchObject({ id: product.id, name: "Persisted lamp", stock: { productId: product.id, available: 6 } });
  const catalogue = await client.query({ query: CatalogueDocument, variables: { first: 5 } });
  expect(catalogue.data?.products.nodes.length).toBeGreaterThan(0);
  const orders = await client.query({ query: MyOrdersDocument, variables: { first: 5 } });
  expect(orders.data?.myOrders.nodes).toEqual([]);
  // Each sent by its manifest id alone: no text, so nothing was registered or run as a freeform document.
  expect(client.sent.map((body) => [body.operationName, body.query, body.extensions.persistedQuery.sha256Hash])).toEqual(
    ["ProductPage", "Catalogue", "MyOrders"].map((name) => [name, undefined, byName(name).id]),
  );
  client.stop();
});

test("PERSISTED_DOCUMENTS=required: ids and the manifest's own texts run; any other document is PERSISTED_QUERY_NOT_IN_LIST", async () => {
  const catalogue = byName("Catalogue");
  const variables = { first: 2 };
  for (const body of [
    { extensions: apq(catalogue.id), variables, operationName: "Catalogue" },
    { documentId: catalogue.id, variables },
    { documentId: `sha256:${catalogue.id}`, variables },
    { query: catalogue.body, variables },
    { query: catalogue.body, extensions: apq(catalogue.id), variables },
  ]) {
    const res = await post(required.url, body);
    expect({ status: res.status, errors: res.body.errors }).toEqual({ status: 200, errors: undefined });
    expect(res.body.data.products.nodes.length).toBeGreaterThan(0);
  }
  const other = "{ products(first: 1) { nodes { id } } }";
  for (const body of [{ query: other }, { query: other, extensions: apq(documentIdOf(other)) }]) {
    const res = await post(required.url, body);
    expect(res.status).toBe(403);
    expect(codeOf(res.body)).toBe("PERSISTED_QUERY_NOT_IN_LIST");
  }
  const unknown = await post(required.url, { extensions: apq(documentIdOf(other)) });
  expect(unknown.status).toBe(200);
  expect(unknown.body).toEqual({ errors: [{ message: "PersistedQueryNotFound", extensions: { code: "PERSISTED_QUERY_NOT_FOUND" } }] });
  expect(unknown.headers.get("cache-control")).toBe("private, no-cache, must-revalidate");
});

test("GET serves persisted ids too, queries only", async () => {
  const catalogue = byName("Catalogue");
  const get = async (params: Record<string, string>) => {
    const res = await fetch(`${required.url}?${new URLSearchParams(params)}`, { headers: { "apollo-require-preflight": "true" } });
    return { status: res.status, body: (await res.json()) as any };
  };
  const variables = JSON.stringify({ first: 1 });
  for (const params of [
    { operationName: "Catalogue", variables, extensions: JSON.stringify(apq(catalogue.id)) } as Record<string, string>,
    { documentId: catalogue.id, variables },
  ]) {
    const res = await get(params);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.products.nodes).toHaveLength(1);
  }
  expect(codeOf((await get({ query: "{ products(first: 1) { nodes { id } } }" })).body)).toBe("PERSISTED_QUERY_NOT_IN_LIST");
  expect(codeOf((await get({ extensions: JSON.stringify(apq("0".repeat(64))) })).body)).toBe("PERSISTED_QUERY_NOT_FOUND");
  // A mutation stays POST-only, whatever names it.
  const mutation = byName("PlaceOrder");
  expect((await get({ documentId: mutation.id, variables: "{}" })).status).toBe(405);
});

test("PERSISTED_DOCUMENTS=required over WebSocket: the manifest's subscription runs, another is refused", async () => {
  const product = await createProduct(stack.gql, admin, 3);
  const socket = createClient({ url: required.url.replace(/^http/, "ws"), webSocketImpl: WebSocket, retryAttempts: 0 });
  sockets.push(socket);
  const subscribe = (query: string) => {
    const results = received<any>(query);
    const stop = socket.subscribe(
      { query, variables: { productIds: [product.id] } },
      { next: (r) => results.push(r), error: (e) => results.end(`failed with ${JSON.stringify(e)}`), complete: () => results.end("completed") },
    );
    return Object.assign(results, { stop });
  };
  const live = subscribe(byName("StockLive").body);
  expect((await live.first()).data.stockChanged).toMatchObject({ productId: product.id, available: 3 });
  live.stop();
  const other = subscribe(`subscription($productIds: [ID!]!) { stockChanged(productIds: $productIds) { available } }`);
  await expect(other.first()).rejects.toThrow(/PERSISTED_QUERY_NOT_IN_LIST/);
});

test("APQ in development: unknown hash, then registration (hash verified, limits checked), then by hash alone", async () => {
  const query = `query Apq${randomUUID().slice(0, 8)} { products(first: 1) { nodes { id name } } }`;
  const hash = documentIdOf(query);
  const notFound = await post(optional.url, { extensions: apq(hash) });
  expect(notFound.body).toEqual({ errors: [{ message: "PersistedQueryNotFound", extensions: { code: "PERSISTED_QUERY_NOT_FOUND" } }] });

  const mismatch = await post(optional.url, { query, extensions: apq(documentIdOf(`${query} `)) });
  expect({ status: mismatch.status, message: mismatch.body.errors?.[0]?.message }).toEqual({
    status: 400,
    message: "provided sha does not match query",
  });
  expect((await post(optional.url, { extensions: { persistedQuery: { version: 2, sha256Hash: hash } } })).status).toBe(400);

  const registered = await post(optional.url, { query, extensions: apq(hash) });
  expect(registered.body.errors).toBeUndefined();
  const byHash = await post(optional.url, { extensions: apq(hash) });
  expect(byHash.body).toEqual(registered.body);

  // Over the alias limit (15): refused at registration, and not kept.
  const deep = `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: products(first: 1) { pageInfo { hasNextPage } }`).join(" ")} }`;
  const refused = await post(optional.url, { query: deep, extensions: apq(documentIdOf(deep)) });
  expect({ status: refused.status, code: codeOf(refused.body), kind: refused.body.errors?.[0]?.extensions?.kind }).toEqual({
    status: 400,
    code: "OPERATION_LIMIT_EXCEEDED",
    kind: "aliases",
  });
  expect(codeOf((await post(optional.url, { extensions: apq(documentIdOf(deep)) })).body)).toBe("PERSISTED_QUERY_NOT_FOUND");

  // An invalid document is answered as always, and not kept either.
  const invalid = "{ products(first: 1) { nodes { nope } } }";
  expect(codeOf((await post(optional.url, { query: invalid, extensions: apq(documentIdOf(invalid)) })).body)).toBe("GRAPHQL_VALIDATION_FAILED");
  expect(codeOf((await post(optional.url, { extensions: apq(documentIdOf(invalid)) })).body)).toBe("PERSISTED_QUERY_NOT_FOUND");
  // Freeform documents still run in this mode.
  expect((await post(optional.url, { query: "{ products(first: 1) { nodes { id } } }" })).body.errors).toBeUndefined();
});

test("the manifest's joins are compiled at startup: a persisted join runs on the plan executor with no parse", async () => {
  const router = await startRouter(stack.urls, { persistedDocuments: { mode: "required", manifest } });
  const counted = async (name: string) => {
    const metric = router.router.metrics.registry.getSingleMetric(name) as Counter | undefined;
    return ((await metric?.get())?.values ?? []).reduce((sum, v) => sum + v.value, 0);
  };
  try {
    // Every query and mutation the pass-through does not take (ProductPage, Catalogue, MyOrders, ... join subgraphs).
    const compiled = await counted("router_executor_compilations_total");
    expect(compiled).toBeGreaterThanOrEqual(3);
    const product = await createProduct(stack.gql, admin, 2, { name: "Precompiled lamp" });
    const runs = await counted("router_executor_operations_total");
    for (const body of [{ documentId: byName("ProductPage").id }, { extensions: apq(byName("ProductPage").id), operationName: "ProductPage" }]) {
      const res = await post(router.url, { ...body, variables: { id: product.id } });
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.product).toMatchObject({ name: "Precompiled lamp", stock: { available: 2 } });
    }
    expect(await counted("router_executor_operations_total")).toBe(runs + 2); // answered by the executor
    expect(await counted("router_executor_compilations_total")).toBe(compiled); // on the program compiled at startup
  } finally {
    await router.close();
  }
});
