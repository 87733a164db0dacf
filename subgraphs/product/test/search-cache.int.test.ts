import { randomUUID } from "node:crypto";
import { gql } from "../../../test/harness.ts";
import { encodeCursor } from "../../../common/validation.ts";
import { createProductVia, setPriceVia, startProductInstance, testCacheOptions, type Instance } from "./support.ts";

// Point 4: searches (and product lists) are read-through cached per normalised query, and a product
// created through any instance is found by every instance as soon as the mutation returns.

const SEARCH = `query($q: String!, $first: Int) { searchProducts(query: $q, first: $first) { id name priceCents } }`;
const searchIds = async (instance: Instance, q: string, first = 20) => {
  const res = await gql(instance.url, SEARCH, { q, first });
  expect(res.errors).toBeUndefined();
  return res.data!.searchProducts as { id: string; name: string; priceCents: number }[];
};
const searches = (instance: Instance) => instance.sql.filter((q) => /FROM products\b/.test(q)).length;

let a: Instance;
let b: Instance;
beforeAll(async () => {
  const options = testCacheOptions();
  a = await startProductInstance({ cache: options });
  b = await startProductInstance({ cache: options });
});
afterAll(() => Promise.all([a.close(), b.close()]));

test("a product created through one instance is found by a cached search on the other right after the mutation returns", async () => {
  const word = `lampword${randomUUID().slice(0, 8)}`;
  expect(await searchIds(a, word)).toEqual([]);
  expect(await searchIds(b, word)).toEqual([]);
  expect(await searchIds(b, word)).toEqual([]);
  expect(searches(b)).toBeLessThanOrEqual(1); // the repeat came from the cache

  const created = await createProductVia(a.url, { name: `Reading ${word} lamp` });
  expect((await searchIds(b, word)).map((p) => p.id)).toEqual([created.id]);
  expect((await searchIds(a, word)).map((p) => p.id)).toEqual([created.id]);
});

test("equivalent queries share one cache entry: case, outer and repeated spaces do not matter; `first` does", async () => {
  const word = `normword${randomUUID().slice(0, 8)}`;
  await createProductVia(a.url, { name: `Blue ${word} Kettle` });
  b.sql.length = 0;
  const hitsBefore = await b.metric("cache_requests_total", { cache: "query", level: "l1", result: "hit" });

  const first = await searchIds(b, `${word} kettle`);
  for (const variant of [`  ${word.toUpperCase()}   KETTLE `, `${word}\tKettle`]) expect(await searchIds(b, variant)).toEqual(first);
  expect(first).toHaveLength(1);
  expect(searches(b)).toBe(1);
  expect(await b.metric("cache_requests_total", { cache: "query", level: "l1", result: "hit" })).toBe(hitsBefore + 2);

  await searchIds(b, `${word} kettle`, 5);
  expect(searches(b)).toBe(2);
});

test("a cached search shows a new price at once, without searching the database again", async () => {
  const word = `priceword${randomUUID().slice(0, 8)}`;
  const product = await createProductVia(a.url, { name: `Green ${word}`, priceCents: 2_000 });
  expect((await searchIds(b, word))[0]!.priceCents).toBe(2_000);
  const before = searches(b);

  await setPriceVia(a.url, product.id, 2_500);
  expect((await searchIds(b, word))[0]!.priceCents).toBe(2_500);
  expect(searches(b)).toBe(before);
});

test("a product list is cached too, and a product created through one instance appears in the other's list at once", async () => {
  const anchor = await createProductVia(a.url);
  const after = encodeCursor({ createdAt: anchor.createdAt, id: anchor.id });
  const list = async (instance: Instance) => {
    const res = await gql(instance.url, `query($after: String) { products(first: 100, after: $after) { nodes { id } pageInfo { hasNextPage } } }`, {
      after,
    });
    expect(res.errors).toBeUndefined();
    return (res.data!.products.nodes as { id: string }[]).map((n) => n.id);
  };
  const pages = () => b.sql.filter((q) => /FROM "public"\."products" WHERE .*ORDER BY/.test(q)).length;
  b.sql.length = 0;
  await list(b);
  expect(pages()).toBe(1);
  await list(b);
  expect(pages()).toBe(1);

  const next = await createProductVia(a.url);
  expect(await list(b)).toContain(next.id);
});
