import { randomUUID } from "node:crypto";
import { gql, uniqueSku } from "../../../test/harness.ts";
import { cacheKeys } from "../src/cache/options.ts";
import { fakeClock, startProductInstance, testCacheOptions, type Instance } from "./support.ts";

// Point 1: a cold product costs one database query per instance however many requests want it, and an
// unknown id is remembered as missing, so a flood of it stays off PostgreSQL.

const PRODUCT = `query($id: ID!) { product(id: $id) { id name priceCents } }`;

const flood = (instance: Instance, id: string, n: number) => Promise.all(Array.from({ length: n }, () => gql(instance.url, PRODUCT, { id })));

const instances: Instance[] = [];
afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.close()));
});

test("500 concurrent requests per instance for a cold product make one database query per instance", async () => {
  const options = testCacheOptions();
  const a = await startProductInstance({ cache: options });
  const b = await startProductInstance({ cache: options });
  instances.push(a, b);
  // Written straight to the database, so neither L1 nor L2 has it.
  const product = await a.store.create({
    sku: uniqueSku("COLD"),
    name: "Cold lamp",
    description: "",
    priceCents: 4_200,
    currency: "USD",
    initialStock: 0,
  });
  a.sql.length = 0;
  b.sql.length = 0;

  const [fromA, fromB] = await Promise.all([flood(a, product.id, 500), flood(b, product.id, 500)]);

  for (const res of [...fromA, ...fromB]) expect(res).toEqual({ data: { product: { id: product.id, name: "Cold lamp", priceCents: 4_200 } } });
  expect(a.productReads()).toBeLessThanOrEqual(1);
  expect(b.productReads()).toBeLessThanOrEqual(1);
  expect(a.productReads() + b.productReads()).toBeGreaterThanOrEqual(1);
  expect(await a.metric("cache_database_queries_total", { cache: "product" })).toBe(a.productReads());
  expect(await b.metric("cache_database_queries_total", { cache: "product" })).toBe(b.productReads());

  // Warm now: another burst reaches neither the database nor Redis' L2.
  const l2Before = await a.metric("cache_requests_total", { cache: "product", level: "l2" });
  await flood(a, product.id, 200);
  expect(a.productReads()).toBeLessThanOrEqual(1);
  expect(await a.metric("cache_requests_total", { cache: "product", level: "l2" })).toBe(l2Before);
});

test("a flood of an unknown id reaches the database once, then is answered from the negative cache until it expires", async () => {
  const clock = fakeClock();
  // Long enough for the floods below on a loaded machine: Redis expires the L2 entry in real time.
  const NEGATIVE_TTL_MS = 60_000;
  const options = testCacheOptions({ negativeTtlMs: NEGATIVE_TTL_MS, now: clock.now });
  const a = await startProductInstance({ cache: options });
  const b = await startProductInstance({ cache: options });
  instances.push(a, b);
  const unknown = randomUUID();

  const first = await flood(a, unknown, 500);
  expect(first.every((res) => res.data?.product === null && !res.errors)).toBe(true);
  expect(a.productReads()).toBe(1);
  const key = cacheKeys(options.keyPrefix).product(unknown);
  const ttl = await a.redis.pttl(key);
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(NEGATIVE_TTL_MS);

  await flood(a, unknown, 500);
  expect(a.productReads()).toBe(1); // L1 remembers the miss
  await flood(b, unknown, 500);
  expect(b.productReads()).toBe(0); // L2 remembers it for the other instance

  clock.advance(NEGATIVE_TTL_MS + 1);
  await a.redis.del(key); // what Redis does at the PTTL checked above, without waiting for it
  await flood(a, unknown, 100);
  expect(a.productReads()).toBe(2);
});
