import { randomUUID } from "node:crypto";
import { config, gql, logger, uniqueSku } from "../../../test/harness.ts";
import { createKafka, createProducer, ensureTopics, type KafkaContext, type Producer } from "../../../common/kafka/client.ts";
import { publish } from "../../../common/kafka/publish.ts";
import { createEvent, stockChanged, type ProductEvent } from "../../../common/events.ts";
import { runCacheRefreshConsumer } from "../src/cache/refresh-consumer.ts";
import { cacheKeys } from "../src/cache/options.ts";
import { decodeEntry } from "../src/cache/codec.ts";
import { eventually, priceOf, startProductInstance, testCacheOptions, type Instance } from "./support.ts";

// Point 2, writes by any process: a process that changes products without the cache (a script, an
// older deployment) still reaches every instance, through the events it commits to Kafka. The topics
// here are this test's own, so the history of other runs is not replayed.

let ctx: KafkaContext;
let producer: Producer;
let a: Instance;
let b: Instance;
let consumer: { close: () => Promise<void> };
const options = testCacheOptions({ l1TtlMs: 10 * 60_000 });
const keys = cacheKeys(options.keyPrefix);

beforeAll(async () => {
  ctx = createKafka({ brokers: config.KAFKA_BROKERS.split(","), clientId: "cache-refresh-test", logger, topicPrefix: `test.cache-${randomUUID()}.` });
  await ensureTopics(ctx, 2, ["product", "inventory"]);
  producer = await createProducer(ctx);
  a = await startProductInstance({ cache: options });
  b = await startProductInstance({ cache: options });
  consumer = await runCacheRefreshConsumer({
    ctx,
    producer,
    store: a.store,
    caching: a.caching!,
    logger,
    groupId: `product-cache-${randomUUID()}`,
    fromBeginning: true,
  });
}, 60_000);
afterAll(async () => {
  await consumer.close();
  await Promise.all([a.close(), b.close()]);
  await producer.disconnect();
  const admin = ctx.kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: ["product", "inventory", "product.dlq", "inventory.dlq"].map(ctx.topic) }).catch(() => undefined);
  await admin.disconnect();
});

const refreshes = () => a.metric("cache_invalidations_total", { reason: "write" });

test("a price changed behind the cache's back reaches both instances through its Kafka event; duplicates and stale events change nothing", async () => {
  const other = a.store; // the same table, but without going through the cache
  const product = await other.create({ sku: uniqueSku("KAF"), name: "Kettle", description: "", priceCents: 100, currency: "USD", initialStock: 0 });
  for (const instance of [a, b]) for (let i = 0; i < 2; i++) expect(await priceOf(instance.url, product.id)).toBe(100);

  const changed = await other.updatePrice(product.id, 150);
  expect(await priceOf(b.url, product.id)).toBe(100); // the cache has not heard of it yet
  const event = createEvent<ProductEvent>("ProductPriceChanged", product.id, {
    productId: product.id,
    priceCents: 150,
    priceVersion: changed.priceVersion,
  });
  await publish(ctx, producer, "product", [event]);
  await eventually(async () => (await priceOf(a.url, product.id)) === 150 && (await priceOf(b.url, product.id)) === 150, 20_000, 50);

  // Delivered again, and an older event delivered late: the handler re-reads the row, so nothing moves back.
  const before = await refreshes();
  const stale = createEvent<ProductEvent>("ProductPriceChanged", product.id, {
    productId: product.id,
    priceCents: 100,
    priceVersion: product.priceVersion,
  });
  await publish(ctx, producer, "product", [event, stale]);
  await eventually(async () => (await refreshes()) >= before + 2, 20_000, 50);
  expect(await Promise.all([priceOf(a.url, product.id), priceOf(b.url, product.id)])).toEqual([150, 150]);
  expect(decodeEntry((await a.redis.get(keys.product(product.id)))!)).toMatchObject({ priceCents: 150, priceVersion: changed.priceVersion });
});

test("a product created behind the cache's back shows up in a cached search once its event is handled", async () => {
  const word = `kafkaword${randomUUID().slice(0, 8)}`;
  const search = async (instance: Instance) =>
    ((await gql(instance.url, `query($q: String!) { searchProducts(query: $q) { id } }`, { q: word })).data!.searchProducts as { id: string }[]).map(
      (p) => p.id,
    );
  expect(await search(b)).toEqual([]);
  expect(await search(b)).toEqual([]); // cached now

  const product = await a.store.create({
    sku: uniqueSku("KAF"),
    name: `Teapot ${word}`,
    description: "",
    priceCents: 900,
    currency: "USD",
    initialStock: 0,
  });
  const event = createEvent<ProductEvent>("ProductCreated", product.id, {
    productId: product.id,
    sku: product.sku,
    name: product.name,
    priceCents: 900,
    currency: "USD",
  });
  await publish(ctx, producer, "product", [event]);
  await eventually(async () => (await search(b)).includes(product.id), 20_000, 50);
});

test("an inventory event refreshes the product in L2 and makes every instance drop its L1 copy", async () => {
  const product = await a.store.create({ sku: uniqueSku("KAF"), name: "Mug", description: "", priceCents: 300, currency: "USD", initialStock: 4 });
  await priceOf(b.url, product.id);
  await a.redis.del(keys.product(product.id));
  const heard = await b.metric("cache_invalidations_total", { reason: "pubsub" });

  await publish(ctx, producer, "inventory", [stockChanged({ productId: product.id, available: 9, reserved: 0, sold: 0, version: 2 }, "restock", 5)]);
  await eventually(async () => (await b.metric("cache_invalidations_total", { reason: "pubsub" })) > heard, 20_000, 50);
  expect(decodeEntry((await a.redis.get(keys.product(product.id)))!)).toMatchObject({ id: product.id, priceCents: 300 });
  expect(await a.redis.pttl(keys.product(product.id))).toBeGreaterThan(290_000);
});
