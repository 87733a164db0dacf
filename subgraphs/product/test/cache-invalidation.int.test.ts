import { randomUUID } from "node:crypto";
import { uniqueSku } from "../../../test/harness.ts";
import { cacheKeys } from "../src/cache/options.ts";
import { putProducts } from "../src/cache/l2-writes.ts";
import { decodeEntry, encodeProduct } from "../src/cache/codec.ts";
import { eventually, fakeClock, priceOf, setPriceVia, sleep, startProductInstance, testCacheOptions, type Instance } from "./support.ts";

// Point 2: a price change through one instance reaches every instance's L1 through pub/sub (not by waiting out
// the L1 lifetime), an instance that lost its subscription clears its L1 when it is back, and L2 never goes back
// in time. How fast pub/sub delivers is a benchmark's business; here the mechanism is what is asserted.

const instances: Instance[] = [];
afterEach(async () => {
  await Promise.all(instances.splice(0).map((i) => i.close()));
});

async function warm(instance: Instance, id: string, price: number) {
  expect(await priceOf(instance.url, id)).toBe(price);
  const hits = await instance.metric("cache_requests_total", { cache: "product", level: "l1", result: "hit" });
  expect(await priceOf(instance.url, id)).toBe(price);
  // The second read came from L1: the instance would keep serving this price without an invalidation.
  expect(await instance.metric("cache_requests_total", { cache: "product", level: "l1", result: "hit" })).toBe(hits + 1);
}

test("after a price change through one instance, the other drops its L1 copy on the pub/sub invalidation and serves the new price", async () => {
  // L1 time stands still: no entry can expire during the test, so only an invalidation can change what B serves.
  const clock = fakeClock();
  const options = testCacheOptions({ l1TtlMs: 10 * 60_000, now: clock.now });
  const a = await startProductInstance({ cache: options });
  const b = await startProductInstance({ cache: options });
  instances.push(a, b);
  const product = await a.store.create({
    sku: uniqueSku("INV"),
    name: "Desk",
    description: "",
    priceCents: 10_000,
    currency: "USD",
    initialStock: 0,
  });
  await warm(a, product.id, 10_000);
  await warm(b, product.id, 10_000);

  const heardBefore = await b.metric("cache_invalidations_total", { reason: "pubsub" });
  const clearedBefore = await b.metric("cache_invalidations_total", { reason: "clear" });
  const updated = await setPriceVia(a.url, product.id, 12_500);
  expect(updated.priceVersion).toBe(product.priceVersion + 1);

  // The writer itself answers with the new price at once.
  expect(await priceOf(a.url, product.id)).toBe(12_500);
  // B serves its L1 copy until the invalidation arrives; the bound only keeps a lost one from hanging the test.
  await eventually(async () => (await priceOf(b.url, product.id)) === 12_500, 10_000, 10);
  // What changed B's answer: one pub/sub invalidation of this product, while B stayed subscribed (a resubscription
  // would have cleared its whole L1, and while unsubscribed it would have read through to L2).
  expect(await b.metric("cache_invalidations_total", { reason: "pubsub" })).toBe(heardBefore + 1);
  expect(await b.metric("cache_invalidations_total", { reason: "clear" })).toBe(clearedBefore);
  expect(b.caching!.products.live).toBe(true);

  // Once new, always new, on both, and served from L1 again.
  const hitsBefore = await b.metric("cache_requests_total", { cache: "product", level: "l1", result: "hit" });
  for (let i = 0; i < 20; i++) {
    expect(await Promise.all([priceOf(a.url, product.id), priceOf(b.url, product.id)])).toEqual([12_500, 12_500]);
  }
  expect(await b.metric("cache_requests_total", { cache: "product", level: "l1", result: "hit" })).toBeGreaterThanOrEqual(hitsBefore + 19);
  expect(await a.metric("cache_invalidations_total", { reason: "write" })).toBe(1);
});

test("an instance whose subscription dropped serves no L1 entry from before the drop once it is back", async () => {
  const options = testCacheOptions({ l1TtlMs: 10 * 60_000 });
  const name = `test-sub-${randomUUID()}`;
  const a = await startProductInstance({ cache: options });
  // Reconnects only after 500 ms, so the invalidation below is sent while B is away and lost to it.
  const b = await startProductInstance({ cache: options, subscriber: { connectionName: name, retryStrategy: () => 500 } });
  instances.push(a, b);
  const product = await a.store.create({
    sku: uniqueSku("RECON"),
    name: "Chair",
    description: "",
    priceCents: 5_000,
    currency: "USD",
    initialStock: 0,
  });
  await warm(b, product.id, 5_000);
  const heardBefore = await b.metric("cache_invalidations_total", { reason: "pubsub" });

  const clients = (await a.redis.client("LIST")) as string;
  const subscriberId = /id=(\d+) .*name=(\S+)/g;
  const id = [...clients.matchAll(subscriberId)].find((m) => m[2] === name)?.[1];
  expect(id).toBeDefined();
  await a.redis.client("KILL", "ID", id!);
  await eventually(() => !b.caching!.products.live, 2_000, 5);
  expect(await b.metric("cache_invalidation_subscribed")).toBe(0);

  await setPriceVia(a.url, product.id, 6_000);
  // While away, B reads through to L2 rather than trusting L1.
  expect(await priceOf(b.url, product.id)).toBe(6_000);

  await eventually(() => b.caching!.products.live, 3_000, 10);
  expect(await b.metric("cache_invalidations_total", { reason: "pubsub" })).toBe(heardBefore); // it really missed it
  expect(await b.metric("cache_invalidation_subscribed")).toBe(1);
  expect(await priceOf(b.url, product.id)).toBe(6_000);
  expect(await priceOf(b.url, product.id)).toBe(6_000);
});

test("L2 never goes back in time: an older copy written late keeps the newer one", async () => {
  const options = testCacheOptions();
  const a = await startProductInstance({ cache: options });
  instances.push(a);
  const keys = cacheKeys(options.keyPrefix);
  const v1 = await a.store.create({ sku: uniqueSku("L2"), name: "Shelf", description: "", priceCents: 700, currency: "USD", initialStock: 0 });
  await sleep(2); // a later updated_at, even in the same price version
  const v2 = await a.store.updatePrice(v1.id, 800);
  const ttl = 60_000;

  await putProducts(a.redis, keys, [[v2.id, encodeProduct(v2), ttl]]);
  await putProducts(a.redis, keys, [[v1.id, encodeProduct(v1), ttl]]); // a slow reader that read before the change
  expect(decodeEntry((await a.redis.get(keys.product(v1.id)))!)).toEqual(v2);
  await putProducts(a.redis, keys, [[v1.id, encodeProduct({ ...v2, updatedAt: v1.updatedAt }), ttl]]);
  expect(decodeEntry((await a.redis.get(keys.product(v1.id)))!)!.updatedAt).toEqual(v2.updatedAt);
  // A remembered miss never hides a product that exists.
  await putProducts(a.redis, keys, [[v1.id, { priceVersion: 0, updatedAtMs: 0, json: "null" }, ttl]]);
  expect(decodeEntry((await a.redis.get(keys.product(v1.id)))!)).toEqual(v2);
  expect(await priceOf(a.url, v1.id)).toBe(800);
});
