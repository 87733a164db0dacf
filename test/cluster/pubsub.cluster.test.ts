import { randomUUID, createHash } from "node:crypto";
import { config, logger } from "../harness.ts";
import { createRedis, type Redis } from "../../common/redis.ts";
import { itemKeys, saleChannel } from "../../common/orders/flash-keys.ts";
import { createSaleStock } from "../../subgraphs/flash-sale/src/sale-stock.ts";
import { connectProductCaching, type ProductCaching } from "../../subgraphs/product/src/cache/caching.ts";
import { cacheKeys, type CacheOptions } from "../../subgraphs/product/src/cache/options.ts";
import { clusterPorts, eventually, masterPortOf, product } from "./support.ts";

// Pub/sub across the cluster's nodes: the product cache's invalidations (sharded pub/sub, SPUBLISH/SSUBSCRIBE on
// the channel's slot) from one instance to another, and the flash-sale scripts' PUBLISH (classic pub/sub, which
// the cluster bus carries to every node) to a subscriber connected wherever ioredis put it.

const [askPort] = clusterPorts();
let redis: Redis;
const open: { close: () => Promise<void> }[] = [];

beforeAll(() => {
  redis = createRedis(config.REDIS_URL);
});
afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  await redis.quit();
});

test("a price change announced by one instance drops the other instance's L1 copy, the channel and the product on different masters", async () => {
  // A key prefix whose invalidation channel is on another master than the product: the message has to cross nodes.
  let prefix: string;
  let id: string;
  do {
    prefix = `fg:cluster-${randomUUID()}:cache:`;
    id = randomUUID();
  } while ((await masterPortOf(askPort!, cacheKeys(prefix).channel)) === (await masterPortOf(askPort!, cacheKeys(prefix).product(id))));
  const options: CacheOptions = { keyPrefix: prefix, l1Max: 100, l1TtlMs: 600_000, l2TtlSeconds: 60, queryTtlSeconds: 60, negativeTtlMs: 1_000 };
  const connect = async () => {
    const command = createRedis(config.REDIS_URL);
    const caching = await connectProductCaching({ redis: command, redisUrl: config.REDIS_URL, options, logger });
    open.push({ close: async () => (await caching.close(), await command.quit()) as unknown as void });
    return caching;
  };
  const a: ProductCaching = await connect();
  const b: ProductCaching = await connect();
  expect(b.products.live).toBe(true);

  let database = product(id, 1_000, 1);
  const load = async (ids: string[]) => ids.filter((x) => x === id).map(() => database);
  expect((await b.products.getMany([id], load))[0]?.priceCents).toBe(1_000);
  // B now answers from its L1, whatever the database says.
  database = product(id, 2_000, 2);
  expect((await b.products.getMany([id], load))[0]?.priceCents).toBe(1_000);

  const heard = await b.metrics.cacheInvalidations.get();
  await a.written([database], { catalogueChanged: false });
  await eventually(async () => (await b.products.getMany([id], load))[0]?.priceCents === 2_000, 10_000, "B never served the new price");
  const pubsub = (await b.metrics.cacheInvalidations.get()).values.find((v) => v.labels.reason === "pubsub")?.value ?? 0;
  const before = heard.values.find((v) => v.labels.reason === "pubsub")?.value ?? 0;
  expect(pubsub).toBe(before + 1);
  expect(b.products.live).toBe(true);
});

test("flashSaleChanged's messages, PUBLISHed by the item scripts on every master, reach one subscriber", async () => {
  const saleId = randomUUID();
  const stock = createSaleStock(redis);
  // One item per master: whichever node the subscriber is connected to, two of the three messages cross the cluster bus.
  const byMaster = new Map<number, string>();
  while (byMaster.size < 3) {
    const productId = randomUUID();
    byMaster.set(await masterPortOf(askPort!, itemKeys(saleId, productId).item), productId);
  }
  const now = Date.now();
  for (const productId of byMaster.values())
    await stock.load({
      saleId,
      productId,
      remaining: 5,
      sold: 0,
      quantity: 5,
      priceCents: 100,
      currency: "USD",
      perUserLimit: 5,
      startsAtMs: now - 1_000,
      endsAtMs: now + 600_000,
      ended: false,
      users: new Map(),
    });

  const subscriber = createRedis(config.REDIS_URL);
  open.push({ close: async () => void (await subscriber.quit()) });
  const heard: string[] = [];
  subscriber.on("message", (channel: string, message: string) => channel === saleChannel(saleId) && heard.push(message));
  await subscriber.subscribe(saleChannel(saleId));

  for (const productId of byMaster.values()) {
    const orderId = randomUUID();
    const result = await stock.purchase({
      saleId,
      productId,
      orderId,
      userId: "ann",
      idempotencyKey: orderId,
      quantity: 1,
      requestHash: createHash("sha256").update(orderId).digest("hex"),
      nowMs: Date.now(),
      expiresAtMs: Date.now() + 900_000,
      rate: 100,
      burst: 100,
    });
    expect(result).toMatchObject({ ok: true, remaining: 4 });
  }
  await eventually(async () => heard.length === 3, 10_000, `heard only ${heard.length} of 3 changes`);
  expect(heard.map((m) => m.split(" ")[0]).sort()).toEqual([...byMaster.values()].sort());
  for (const message of heard) expect(message).toMatch(/^\S+ 4 \d+ 0$/);
});
