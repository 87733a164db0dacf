import { randomUUID } from "node:crypto";
import { config } from "../../../test/harness.ts";
import { createRedis, defineScript, type Redis } from "../../../common/redis.ts";
import { stockKey } from "../../../common/stock.ts";
import { createReservations, type Reservations } from "../src/reservations.ts";
import { reservationKey } from "../../../common/orders/reservation-keys.ts";

// The Lua scripts against the real Redis: all-or-nothing reserve, idempotent release and confirm.
let redis: Redis;
let reservations: Reservations;
let index: string;

beforeAll(() => {
  redis = createRedis(config.REDIS_URL);
});
afterAll(() => redis.quit());
beforeEach(() => {
  index = `{stock}:reservations:expiry:test-${randomUUID()}`;
  reservations = createReservations(redis, { index, tombstoneSeconds: 3600 });
});

async function product(available: number, reserved = 0, sold = 0): Promise<string> {
  const id = randomUUID();
  await redis.hset(stockKey(id), { available, reserved, sold });
  return id;
}

async function counts(id: string) {
  const [available = 0, reserved = 0, sold = 0] = (await redis.hmget(stockKey(id), "available", "reserved", "sold")).map(Number);
  return { available, reserved, sold };
}

const sorted = (...ids: string[]) => [...ids].sort();
/** Callers pass items in product id order (placeOrder sorts them); the tests do the same. */
const byProduct = <T extends { productId: string }>(items: T[]) => [...items].sort((x, y) => (x.productId < y.productId ? -1 : 1));

describe("order_reserve.lua", () => {
  it("reserves every item, records the reservation and indexes it by expiry", async () => {
    const a = await product(10);
    const b = await product(3, 1, 2);
    const orderId = randomUUID();
    const items = byProduct([
      { productId: a, quantity: 4 },
      { productId: b, quantity: 3 },
    ]);
    const result = await reservations.reserve(orderId, 1_000_000, "hash-1", items);
    expect(result).toEqual({ ok: true });
    expect(await counts(a)).toEqual({ available: 6, reserved: 4, sold: 0 });
    expect(await counts(b)).toEqual({ available: 0, reserved: 4, sold: 2 });
    expect(await reservations.inspect(orderId)).toEqual({ state: "reserved", requestHash: "hash-1", expiresAtMs: 1_000_000 });
    expect(await redis.ttl(reservationKey(orderId))).toBe(-1); // no TTL: only release/confirm remove a live reservation
    expect(await redis.zscore(index, orderId)).toBe("1000000");
    expect(await reservations.due(999_999, 10)).toEqual([]);
    expect(await reservations.due(1_000_000, 10)).toEqual([orderId]);
  });

  it("reserves nothing when one item is short, and names it with what is available", async () => {
    const plenty = await product(10);
    const short = await product(2);
    const orderId = randomUUID();
    const items = byProduct([
      { productId: plenty, quantity: 5 },
      { productId: short, quantity: 3 },
    ]);
    const result = await reservations.reserve(orderId, 1, "h", items);
    expect(result).toEqual({ ok: false, reason: "short", productId: short, available: 2 });
    expect(await counts(plenty)).toEqual({ available: 10, reserved: 0, sold: 0 });
    expect(await counts(short)).toEqual({ available: 2, reserved: 0, sold: 0 });
    expect(await redis.exists(reservationKey(orderId))).toBe(0);
    expect(await redis.zcard(index)).toBe(0);
  });

  it("reports products whose counters Redis does not have, and changes nothing", async () => {
    const loaded = await product(5);
    const missing = randomUUID();
    const result = await reservations.reserve(randomUUID(), 1, "h", [
      { productId: loaded, quantity: 1 },
      { productId: missing, quantity: 1 },
    ]);
    expect(result).toEqual({ ok: false, reason: "not_loaded", productIds: [missing] });
    expect(await counts(loaded)).toEqual({ available: 5, reserved: 0, sold: 0 });
  });

  it("reports an existing reservation for the order id with its hash, and changes nothing", async () => {
    const p = await product(5);
    const orderId = randomUUID();
    await reservations.reserve(orderId, 1, "first", [{ productId: p, quantity: 2 }]);
    expect(await reservations.reserve(orderId, 1, "first", [{ productId: p, quantity: 2 }])).toEqual({
      ok: false,
      reason: "exists",
      requestHash: "first",
      state: "reserved",
    });
    expect(await reservations.reserve(orderId, 1, "other", [{ productId: p, quantity: 1 }])).toEqual({
      ok: false,
      reason: "exists",
      requestHash: "first",
      state: "reserved",
    });
    expect(await counts(p)).toEqual({ available: 3, reserved: 2, sold: 0 });
  });
});

describe("order_release.lua and order_confirm.lua", () => {
  async function reserved(quantity = 2) {
    const p = await product(10);
    const orderId = randomUUID();
    await reservations.reserve(orderId, 5, "h", [{ productId: p, quantity }]);
    return { p, orderId };
  }

  it("release returns the stock once; running it again changes nothing", async () => {
    const { p, orderId } = await reserved(3);
    expect(await reservations.release(orderId)).toEqual({ ok: true, skipped: 0 });
    expect(await counts(p)).toEqual({ available: 10, reserved: 0, sold: 0 });
    expect(await reservations.release(orderId)).toEqual({ ok: false, reason: "already", state: "released" });
    expect(await counts(p)).toEqual({ available: 10, reserved: 0, sold: 0 });
    expect(await redis.zscore(index, orderId)).toBeNull();
    const ttl = await redis.ttl(reservationKey(orderId));
    expect(ttl).toBeGreaterThan(3500); // a tombstone, kept so a late second run stays a no-op
    expect(await reservations.confirm(orderId)).toEqual({ ok: false, reason: "already", state: "released" });
    expect(await counts(p)).toEqual({ available: 10, reserved: 0, sold: 0 });
  });

  it("confirm moves reserved to sold once; running it again changes nothing", async () => {
    const { p, orderId } = await reserved(4);
    expect(await reservations.confirm(orderId)).toEqual({ ok: true, skipped: 0 });
    expect(await counts(p)).toEqual({ available: 6, reserved: 0, sold: 4 });
    expect(await reservations.confirm(orderId)).toEqual({ ok: false, reason: "already", state: "confirmed" });
    expect(await reservations.release(orderId)).toEqual({ ok: false, reason: "already", state: "confirmed" });
    expect(await counts(p)).toEqual({ available: 6, reserved: 0, sold: 4 });
    expect(await redis.zscore(index, orderId)).toBeNull();
  });

  it("release with forget deletes the reservation so the order id can reserve again", async () => {
    const { p, orderId } = await reserved(2);
    expect(await reservations.release(orderId, { forget: true })).toEqual({ ok: true, skipped: 0 });
    expect(await redis.exists(reservationKey(orderId))).toBe(0);
    expect(await reservations.reserve(orderId, 5, "h", [{ productId: p, quantity: 2 }])).toEqual({ ok: true });
  });

  it("skips an item whose counters Redis lost (PostgreSQL has the change) and settles the rest", async () => {
    const [a, b] = sorted(await product(10), await product(10));
    const orderId = randomUUID();
    await reservations.reserve(orderId, 5, "h", [
      { productId: a!, quantity: 1 },
      { productId: b!, quantity: 2 },
    ]);
    await redis.del(stockKey(a!));
    expect(await reservations.release(orderId)).toEqual({ ok: true, skipped: 1 });
    expect(await counts(b!)).toEqual({ available: 10, reserved: 0, sold: 0 });
    expect(await redis.exists(stockKey(a!))).toBe(0); // not recreated with partial values; the next read loads it
  });

  it("answers missing for an unknown reservation and removes a stale index entry", async () => {
    const orderId = randomUUID();
    await redis.zadd(index, 1, orderId);
    expect(await reservations.release(orderId)).toEqual({ ok: false, reason: "missing" });
    expect(await reservations.confirm(orderId)).toEqual({ ok: false, reason: "missing" });
    expect(await redis.zcard(index)).toBe(0);
  });

  it("refuses stock keys that are not the reservation's own", async () => {
    const { orderId } = await reserved(1);
    const release = defineScript(redis, "order_release");
    await expect(release([index, reservationKey(orderId), stockKey(randomUUID())], [orderId, 60, "0"])).rejects.toThrow(/is not for/);
  });

  it("keeps available + reserved + sold constant through reserve, release and confirm", async () => {
    const p = await product(50);
    const total = async () => Object.values(await counts(p)).reduce((a, b) => a + b, 0);
    const ids = Array.from({ length: 12 }, () => randomUUID());
    await Promise.all(ids.map((id) => reservations.reserve(id, 5, "h", [{ productId: p, quantity: 5 }])));
    expect(await counts(p)).toEqual({ available: 0, reserved: 50, sold: 0 }); // 10 of the 12 fit
    await Promise.all(ids.map((id, i) => (i % 2 ? reservations.release(id) : reservations.confirm(id))));
    await Promise.all(ids.map((id, i) => (i % 2 ? reservations.confirm(id) : reservations.release(id))));
    expect(await total()).toBe(50);
    expect((await counts(p)).reserved).toBe(0);
  });
});
