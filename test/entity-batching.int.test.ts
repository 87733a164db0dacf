import { config, countSocketWrites, gql, logger, uniqueSku } from "./harness.ts";
import { createPrisma } from "../common/prisma.ts";
import { createRedis } from "../common/redis.ts";
import { createInventoryService } from "../subgraphs/inventory/src/server.ts";
import { startProductInstance, testCacheOptions, type Instance } from "../subgraphs/product/test/support.ts";

// Point 5: one `_entities` call with 100 representations costs one round trip to each store a subgraph
// needs: the product subgraph's PostgreSQL (cold) or Redis (L2), the inventory subgraph's Redis counters.

const PRODUCT_ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id name priceCents } } }`;
const STOCK_ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Product { id stock { available } } } }`;

let a: Instance;
let b: Instance;
let ids: string[];
beforeAll(async () => {
  const options = testCacheOptions();
  a = await startProductInstance({ cache: options });
  b = await startProductInstance({ cache: options });
  ids = [];
  for (let i = 0; i < 100; i++) {
    ids.push(
      (await a.store.create({ sku: uniqueSku("BATCH"), name: `Batch ${i}`, description: "", priceCents: i, currency: "USD", initialStock: i })).id,
    );
  }
}, 60_000);
afterAll(() => Promise.all([a.close(), b.close()]));

const representations = () => ids.map((id) => ({ __typename: "Product", id }));

test("product subgraph: 100 cold references are one database query and one L2 read; warm, they need neither", async () => {
  await a.redis.ping();
  const trips = countSocketWrites(a.redis);
  a.sql.length = 0;
  const cold = await gql(a.url, PRODUCT_ENTITIES, { r: representations() });
  expect(cold.errors).toBeUndefined();
  expect(cold.data!._entities.map((p: { id: string }) => p.id)).toEqual(ids);
  expect(a.productReads()).toBe(1);
  await a.caching!.drain();
  // One MGET the request waited for, plus one pipelined write-back of all 100 that it did not wait for.
  expect(trips.get()).toBe(2);

  trips.reset();
  const warm = await gql(a.url, PRODUCT_ENTITIES, { r: representations() });
  expect(warm.data).toEqual(cold.data);
  expect(a.productReads()).toBe(1);
  expect(trips.get()).toBe(0);

  // Another instance: its L1 is cold, L2 is not.
  await b.redis.ping();
  const tripsB = countSocketWrites(b.redis);
  b.sql.length = 0;
  expect((await gql(b.url, PRODUCT_ENTITIES, { r: representations() })).data).toEqual(cold.data);
  expect(b.productReads()).toBe(0);
  expect(tripsB.get()).toBe(1);
});

test("product subgraph without the cache: 100 references are one database query", async () => {
  const plain = await startProductInstance();
  try {
    const res = await gql(plain.url, PRODUCT_ENTITIES, { r: representations() });
    expect(res.data!._entities).toHaveLength(100);
    expect(plain.productReads()).toBe(1);
  } finally {
    await plain.close();
  }
});

test("inventory subgraph: stock for 100 references is one Redis round trip and no database query", async () => {
  const sql: string[] = [];
  const prisma = createPrisma(config.DATABASE_URL, { poolSize: 2, onQuery: (q) => sql.push(q) });
  const redis = createRedis(config.REDIS_URL);
  const inventory = await createInventoryService({ prisma, redis, logger, internalSecret: config.INTERNAL_SECRET });
  const url = `http://127.0.0.1:${await inventory.listen(0, "127.0.0.1")}/graphql`;
  try {
    await gql(url, STOCK_ENTITIES, { r: representations() }); // counters are in Redis from now on
    await redis.ping();
    const trips = countSocketWrites(redis);
    sql.length = 0;
    const res = await gql(url, STOCK_ENTITIES, { r: representations() });
    expect(res.errors).toBeUndefined();
    expect(res.data!._entities.map((p: { stock: { available: number } }) => p.stock.available)).toEqual(ids.map((_, i) => i));
    expect(trips.get()).toBe(1);
    expect(sql).toEqual([]);
  } finally {
    await inventory.close();
    redis.disconnect();
    await prisma.$disconnect();
  }
});
