import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { config, countSocketWrites } from "../../test/harness.ts";
import { createRedis, type Redis } from "../redis.ts";

// createRedis batches by corking the socket for one event-loop turn (common/redis.ts), against the real Redis.
let redis: Redis;
let admin: Redis;
beforeAll(async () => {
  redis = createRedis(config.REDIS_URL);
  admin = createRedis(config.REDIS_URL);
  await Promise.all([redis.ping(), admin.ping()]);
});
afterAll(async () => {
  await Promise.all([redis.quit(), admin.quit()]);
});

/** Runs `run` and counts the socket writes the client made meanwhile. */
async function socketWrites(run: () => Promise<unknown>): Promise<{ writes: number; result: unknown }> {
  const writes = countSocketWrites(redis);
  const result = await run();
  return { writes: writes.get(), result };
}

test("commands issued in one event-loop turn leave in one socket write, and each caller gets its own reply", async () => {
  const prefix = `corked:${randomUUID()}`;
  await Promise.all(Array.from({ length: 50 }, (_, i) => redis.set(`${prefix}:${i}`, `value-${i}`)));

  const { writes, result } = await socketWrites(() =>
    Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? redis.get(`${prefix}:${i}`) : redis.strlen(`${prefix}:${i}`)))),
  );

  expect(writes).toBe(1);
  expect(result).toEqual(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? `value-${i}` : `value-${i}`.length)));
  await redis.del(...Array.from({ length: 50 }, (_, i) => `${prefix}:${i}`));
});

test("commands of separate turns are not held back", async () => {
  const { writes } = await socketWrites(async () => {
    for (let i = 0; i < 5; i++) await redis.ping();
  });
  expect(writes).toBe(5);
});

test("after the connection is killed the client reconnects and its new socket batches the same way", async () => {
  const id = await redis.client("ID");
  const reconnected = new Promise((resolve) => redis.once("ready", resolve));
  await admin.client("KILL", "ID", String(id));
  await reconnected;

  expect(await redis.client("ID")).not.toBe(id);
  const { writes, result } = await socketWrites(() => Promise.all([redis.ping(), redis.echo("after"), redis.ping()]));
  expect(writes).toBe(1);
  expect(result).toEqual(["PONG", "after", "PONG"]);
});
