import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createRedis, type Redis } from "../../../common/redis.ts";
import { createStockCounters } from "../../../common/stock.ts";
import { createRestock } from "../src/restock.ts";
import { connectTestInfra, uniqueSku, type Infra } from "../../../test/harness.ts";
import { freePort } from "../../../common/ports.ts";

// This test flushes Redis, so it runs its own redis-server: the shared one serves other tests.
let infra: Infra;
let redisProcess: ChildProcess;
let redis: Redis;
beforeAll(async () => {
  infra = await connectTestInfra();
  const port = await freePort();
  redisProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  redis = createRedis(`redis://127.0.0.1:${port}`);
  await new Promise<void>((resolve, reject) => {
    redis.once("ready", resolve);
    setTimeout(() => reject(new Error("own redis-server did not start")), 10_000);
  });
});
afterAll(async () => {
  redis.disconnect();
  redisProcess.kill("SIGTERM");
  await infra.close();
});

/** A product and its stock row, written directly: these tests need the rows, not the product subgraph's events. */
async function newProduct(initialStock: number) {
  const id = randomUUID();
  await infra.prisma.product.create({
    data: {
      id,
      sku: uniqueSku("STK"),
      name: "Stocked",
      description: "",
      priceCents: 100,
      currency: "USD",
      stock: { create: { available: initialStock } },
    },
  });
  return { id };
}

test("after Redis is flushed, stock reads the durable values, never zero", async () => {
  const counters = createStockCounters(redis, infra.prisma);
  const restock = createRestock(infra.prisma, counters);
  const a = await newProduct(25);
  const b = await newProduct(0);
  await restock(b.id, 4);
  expect(await counters.read([a.id, b.id])).toEqual([
    { productId: a.id, available: 25, reserved: 0, sold: 0 },
    { productId: b.id, available: 4, reserved: 0, sold: 0 },
  ]);
  await redis.flushall();
  expect(await counters.read([a.id, b.id])).toEqual([
    { productId: a.id, available: 25, reserved: 0, sold: 0 },
    { productId: b.id, available: 4, reserved: 0, sold: 0 },
  ]);
  expect(await redis.hgetall(`{stock}:${a.id}`)).toEqual({ available: "25", reserved: "0", sold: "0" });
});

test("restock while Redis has no copy is not lost, and concurrent restocks and loads agree with PostgreSQL", async () => {
  const counters = createStockCounters(redis, infra.prisma);
  const restock = createRestock(infra.prisma, counters);
  const product = await newProduct(10);
  await redis.flushall();
  await Promise.all([...Array.from({ length: 20 }, () => restock(product.id, 1)), ...Array.from({ length: 20 }, () => counters.read([product.id]))]);
  const [live] = await counters.read([product.id]);
  const row = await infra.prisma.stock.findUniqueOrThrow({ where: { productId: product.id } });
  expect(row.available).toBe(30);
  expect(live).toEqual({ productId: product.id, available: 30, reserved: 0, sold: 0 });
});

test("an unknown product reads as zero and is not cached", async () => {
  const counters = createStockCounters(redis, infra.prisma);
  const id = randomUUID();
  expect(await counters.read([id])).toEqual([{ productId: id, available: 0, reserved: 0, sold: 0 }]);
  expect(await redis.exists(`{stock}:${id}`)).toBe(0);
});
