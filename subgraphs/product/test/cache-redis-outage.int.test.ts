import { spawn, type ChildProcess } from "node:child_process";
import { jest } from "@jest/globals";
import { freePort } from "../../../common/ports.ts";
import { uniqueSku } from "../../../test/harness.ts";
import { createRedis } from "../../../common/redis.ts";
import { eventually, priceOf, setPriceVia, startProductInstance, testCacheOptions, type Instance } from "./support.ts";

// The cache is an optimisation: with Redis gone, reads and writes still work and stay correct (L1 is
// not trusted while invalidations cannot arrive). This test stops Redis, so it runs its own redis-server.

let port: number;
let redisProcess: ChildProcess | undefined;
async function startRedis() {
  redisProcess = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
}
async function stopRedis() {
  const child = redisProcess!;
  await new Promise((resolve) => (child.once("exit", resolve), child.kill("SIGKILL")));
}

let a: Instance;
beforeAll(async () => {
  port = await freePort();
  await startRedis();
  const probe = createRedis(`redis://127.0.0.1:${port}`);
  await eventually(() => probe.status === "ready", 10_000, 50);
  probe.disconnect();
  // Fast reconnect attempts, so coming back is quick once Redis is up again.
  a = await startProductInstance({
    cache: testCacheOptions({ l1TtlMs: 10 * 60_000 }),
    redisUrl: `redis://127.0.0.1:${port}`,
    subscriber: { retryStrategy: () => 100 },
  });
});
afterAll(async () => {
  await a.close();
  if (redisProcess?.exitCode === null) await stopRedis();
});

test("without Redis, reads come from the database and a price change is served at once; with Redis back, the cache resumes", async () => {
  const product = await a.store.create({ sku: uniqueSku("OUT"), name: "Fan", description: "", priceCents: 2_000, currency: "USD", initialStock: 0 });
  expect(await priceOf(a.url, product.id)).toBe(2_000);
  expect(await priceOf(a.url, product.id)).toBe(2_000); // in L1 now

  await stopRedis();
  await eventually(() => !a.caching!.products.live && a.redis.status !== "ready", 5_000, 10);
  // No waiting on a reconnect: the read goes to PostgreSQL without giving Redis a single command, which would
  // otherwise sit in the client's offline queue until Redis is back or the command times out.
  const sent = jest.spyOn(a.redis, "sendCommand");
  const readsBefore = a.productReads();
  try {
    expect(await priceOf(a.url, product.id)).toBe(2_000);
    expect(sent).not.toHaveBeenCalled();
  } finally {
    sent.mockRestore();
  }
  expect(a.productReads()).toBe(readsBefore + 1);

  expect((await setPriceVia(a.url, product.id, 2_400)).priceCents).toBe(2_400);
  expect(await priceOf(a.url, product.id)).toBe(2_400);

  await startRedis();
  await eventually(() => a.caching!.products.live, 10_000, 50);
  const reads = a.productReads();
  expect(await priceOf(a.url, product.id)).toBe(2_400);
  expect(await priceOf(a.url, product.id)).toBe(2_400);
  expect(a.productReads()).toBe(reads + 1); // loaded once, then from L1 again
});
