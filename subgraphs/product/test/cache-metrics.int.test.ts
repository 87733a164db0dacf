import { randomUUID } from "node:crypto";
import { gql, uniqueSku } from "../../../test/harness.ts";
import { priceOf, startProductInstance, testCacheOptions, type Instance } from "./support.ts";

// Point 6: hits, misses and loads are counted per cache and level on each instance's /metrics.

let a: Instance;
let b: Instance;
beforeAll(async () => {
  const options = testCacheOptions();
  a = await startProductInstance({ cache: options });
  b = await startProductInstance({ cache: options });
});
afterAll(() => Promise.all([a.close(), b.close()]));

async function snapshot(instance: Instance, cache: "product" | "query") {
  const m = (name: string, labels: Record<string, string>) => instance.metric(name, { cache, ...labels });
  return {
    l1Hit: await m("cache_requests_total", { level: "l1", result: "hit" }),
    l1Miss: await m("cache_requests_total", { level: "l1", result: "miss" }),
    l2Hit: await m("cache_requests_total", { level: "l2", result: "hit" }),
    l2Miss: await m("cache_requests_total", { level: "l2", result: "miss" }),
    fromL2: await m("cache_loads_total", { source: "l2" }),
    fromDatabase: await m("cache_loads_total", { source: "database" }),
    queries: await m("cache_database_queries_total", {}),
  };
}

async function delta(instance: Instance, cache: "product" | "query", action: () => Promise<unknown>) {
  const before = await snapshot(instance, cache);
  await action();
  const after = await snapshot(instance, cache);
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
}

const none = { l1Hit: 0, l1Miss: 0, l2Hit: 0, l2Miss: 0, fromL2: 0, fromDatabase: 0, queries: 0 };

test("product reads: a miss on both levels loads from the database, a repeat hits L1, another instance loads from L2", async () => {
  const product = await a.store.create({ sku: uniqueSku("MET"), name: "Metric", description: "", priceCents: 1, currency: "USD", initialStock: 0 });
  const read = (i: Instance) => () => priceOf(i.url, product.id);
  expect(await delta(a, "product", read(a))).toEqual({ ...none, l1Miss: 1, l2Miss: 1, fromDatabase: 1, queries: 1 });
  await a.caching!.drain();
  expect(await delta(a, "product", read(a))).toEqual({ ...none, l1Hit: 1 });
  expect(await delta(b, "product", read(b))).toEqual({ ...none, l1Miss: 1, l2Hit: 1, fromL2: 1 });
});

test("search results are counted under cache=query, by level", async () => {
  const q = `metricword${randomUUID().slice(0, 8)}`;
  const search = (i: Instance) => () => gql(i.url, `query($q: String!) { searchProducts(query: $q) { id } }`, { q });
  expect(await delta(a, "query", search(a))).toEqual({ ...none, l1Miss: 1, l2Miss: 1, fromDatabase: 1, queries: 1 });
  await a.caching!.drain();
  expect(await delta(a, "query", search(a))).toEqual({ ...none, l1Hit: 1 });
  expect(await delta(b, "query", search(b))).toEqual({ ...none, l1Miss: 1, l2Hit: 1, fromL2: 1 });
});

test("the exposition names and explains each series, with the service label", async () => {
  const text = await (await fetch(a.url.replace("/graphql", "/metrics"))).text();
  for (const name of [
    "cache_requests_total",
    "cache_loads_total",
    "cache_database_queries_total",
    "cache_invalidations_total",
    "cache_invalidation_subscribed",
    "product_store_queries_total",
  ]) {
    expect(text).toContain(`# HELP ${name} `);
  }
  expect(text).toMatch(/cache_requests_total\{cache="product",level="l1",result="hit",service="product"\} \d+/);
  expect(await a.metric("cache_invalidation_subscribed")).toBe(1);
  expect(await a.metric("product_store_queries_total", { operation: "findByIds" })).toBeGreaterThanOrEqual(1);
});
