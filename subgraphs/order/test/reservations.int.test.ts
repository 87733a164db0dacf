import { randomUUID } from "node:crypto";
import { config } from "../../../test/harness.ts";
import { createRedis, defineScript, type Redis } from "../../../common/redis.ts";
import { stockKey } from "../../../common/stock.ts";
import { createReservations, type Reservations } from "../src/reservations.ts";
import { heldUnitsKey, reservationKey, restoredMarkerKey } from "../../../common/orders/reservation-keys.ts";

// The Lua scripts against the real Redis: all-or-nothing reserve within the buyer's cap on held units,
// idempotent release, confirm and unhold.
let redis: Redis;
let reservations: Reservations;
let index: string;

beforeAll(() => {
  redis = createRedis(config.REDIS_URL);
});
afterAll(() => redis.quit());
beforeEach(async () => {
  index = `{stock}:reservations:expiry:test-${randomUUID()}`;
  reservations = createReservations(redis, { index, tombstoneSeconds: 3600, maxUnitsPerUser: 1_000, heldUnitsTtlSeconds: 3600 });
  await redis.set(restoredMarkerKey(index), Date.now()); // Redis has lost nothing (redis-loss.int.test.ts covers the rest)
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

/** Every reservation here is one user's; the cap (1 000 units) is far above what these tests hold. */
const BUYER = "buyer";

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
    const result = await reservations.reserve(orderId, 1_000_000, "hash-1", items, BUYER);
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
    const result = await reservations.reserve(orderId, 1, "h", items, BUYER);
    expect(result).toEqual({ ok: false, reason: "short", productId: short, available: 2 });
    expect(await counts(plenty)).toEqual({ available: 10, reserved: 0, sold: 0 });
    expect(await counts(short)).toEqual({ available: 2, reserved: 0, sold: 0 });
    expect(await redis.exists(reservationKey(orderId))).toBe(0);
    expect(await redis.zcard(index)).toBe(0);
  });

  it("reports products whose counters Redis does not have, and changes nothing", async () => {
    const loaded = await product(5);
    const missing = randomUUID();
    const result = await reservations.reserve(
      randomUUID(),
      1,
      "h",
      [
        { productId: loaded, quantity: 1 },
        { productId: missing, quantity: 1 },
      ],
      BUYER,
    );
    expect(result).toEqual({ ok: false, reason: "not_loaded", productIds: [missing] });
    expect(await counts(loaded)).toEqual({ available: 5, reserved: 0, sold: 0 });
  });

  it("reports an existing reservation for the order id with its hash, and changes nothing", async () => {
    const p = await product(5);
    const orderId = randomUUID();
    await reservations.reserve(orderId, 1, "first", [{ productId: p, quantity: 2 }], BUYER);
    expect(await reservations.reserve(orderId, 1, "first", [{ productId: p, quantity: 2 }], BUYER)).toEqual({
      ok: false,
      reason: "exists",
      requestHash: "first",
      state: "reserved",
    });
    expect(await reservations.reserve(orderId, 1, "other", [{ productId: p, quantity: 1 }], BUYER)).toEqual({
      ok: false,
      reason: "exists",
      requestHash: "first",
      state: "reserved",
    });
    expect(await counts(p)).toEqual({ available: 3, reserved: 2, sold: 0 });
  });
});

describe("order_settle.lua: release and confirm", () => {
  async function reserved(quantity = 2) {
    const p = await product(10);
    const orderId = randomUUID();
    await reservations.reserve(orderId, 5, "h", [{ productId: p, quantity }], BUYER);
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
    expect(await reservations.reserve(orderId, 5, "h", [{ productId: p, quantity: 2 }], BUYER)).toEqual({ ok: true });
  });

  it("skips an item whose counters Redis lost (PostgreSQL has the change) and settles the rest", async () => {
    const [a, b] = sorted(await product(10), await product(10));
    const orderId = randomUUID();
    await reservations.reserve(
      orderId,
      5,
      "h",
      [
        { productId: a!, quantity: 1 },
        { productId: b!, quantity: 2 },
      ],
      BUYER,
    );
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
    const settle = defineScript(redis, "order_settle");
    const release = (keys: string[], orderId: string) => settle(keys, [orderId, 60, "release"]);
    const holder = heldUnitsKey(index, BUYER);
    await expect(release([index, reservationKey(orderId), stockKey(randomUUID()), holder], orderId)).rejects.toThrow(/is not for/);
    const { p } = await reserved(1);
    const other = randomUUID();
    await reservations.reserve(other, 5, "h", [{ productId: p, quantity: 1 }], BUYER);
    await expect(release([index, reservationKey(other), stockKey(p), heldUnitsKey(index, "someone-else")], other)).rejects.toThrow(
      /is not the holder/,
    );
    expect(await reservations.heldUnits(BUYER)).toBe(3); // nothing moved
  });

  it("moves nothing when a later item's stock key is wrong, or the mode is unknown", async () => {
    const [a, b] = [await product(10), await product(10)];
    const orderId = randomUUID();
    await reservations.reserve(
      orderId,
      5,
      "h",
      [a, b].sort().map((productId) => ({ productId, quantity: 2 })),
      BUYER,
    );
    const settle = defineScript(redis, "order_settle");
    const holder = heldUnitsKey(index, BUYER);
    const [first] = [a, b].sort();
    const wrongSecond = [index, reservationKey(orderId), stockKey(first!), stockKey(randomUUID()), holder];
    await expect(settle(wrongSecond, [orderId, 60, "confirm"])).rejects.toThrow(/is not for/);
    const keys = [index, reservationKey(orderId), ...[a, b].sort().map(stockKey), holder];
    await expect(settle(keys, [orderId, 60, "sell"])).rejects.toThrow(/is not confirm, release or forget/);
    for (const p of [a, b]) expect(await counts(p)).toEqual({ available: 8, reserved: 2, sold: 0 });
    expect(await reservations.heldUnits(BUYER)).toBe(4);
    expect(await reservations.inspect(orderId)).toMatchObject({ state: "reserved" });
    expect(await reservations.confirm(orderId)).toEqual({ ok: true, skipped: 0 });
    for (const p of [a, b]) expect(await counts(p)).toEqual({ available: 8, reserved: 0, sold: 2 });
  });

  it("keeps available + reserved + sold constant through reserve, release and confirm", async () => {
    const p = await product(50);
    const total = async () => Object.values(await counts(p)).reduce((a, b) => a + b, 0);
    const ids = Array.from({ length: 12 }, () => randomUUID());
    await Promise.all(ids.map((id) => reservations.reserve(id, 5, "h", [{ productId: p, quantity: 5 }], BUYER)));
    expect(await counts(p)).toEqual({ available: 0, reserved: 50, sold: 0 }); // 10 of the 12 fit
    await Promise.all(ids.map((id, i) => (i % 2 ? reservations.release(id) : reservations.confirm(id))));
    await Promise.all(ids.map((id, i) => (i % 2 ? reservations.confirm(id) : reservations.release(id))));
    expect(await total()).toBe(50);
    expect((await counts(p)).reserved).toBe(0);
  });
});

describe("the cap on units one user holds (RESERVATION_MAX_UNITS_PER_USER)", () => {
  const CAP = 10;
  let capped: Reservations;
  beforeEach(() => {
    capped = createReservations(redis, { index, tombstoneSeconds: 3600, maxUnitsPerUser: CAP, heldUnitsTtlSeconds: 1_200 });
  });
  const reserve = (orderId: string, user: string, ...items: { productId: string; quantity: number }[]) =>
    capped.reserve(orderId, 5, "h", byProduct(items), user);

  it("counts units over items and orders, refuses the order that would pass the cap and changes nothing for it", async () => {
    const [a, b] = [await product(100), await product(100)];
    expect(await reserve(randomUUID(), "ann", { productId: a, quantity: 3 }, { productId: b, quantity: 4 })).toEqual({ ok: true });
    expect(await capped.heldUnits("ann")).toBe(7);
    const ttl = await redis.ttl(heldUnitsKey(index, "ann"));
    expect(ttl).toBeGreaterThan(1_190);
    expect(ttl).toBeLessThanOrEqual(1_200);

    const refused = randomUUID();
    expect(await reserve(refused, "ann", { productId: a, quantity: 2 }, { productId: b, quantity: 2 })).toEqual({
      ok: false,
      reason: "over_limit",
      limit: CAP,
      alreadyReserved: 7,
    });
    expect(await counts(a)).toEqual({ available: 97, reserved: 3, sold: 0 });
    expect(await counts(b)).toEqual({ available: 96, reserved: 4, sold: 0 });
    expect(await redis.exists(reservationKey(refused))).toBe(0);
    expect(await redis.zscore(index, refused)).toBeNull();
    expect(await capped.heldUnits("ann")).toBe(7);

    expect(await reserve(randomUUID(), "bob", { productId: a, quantity: 10 })).toEqual({ ok: true }); // the cap is per user
    expect(await reserve(randomUUID(), "ann", { productId: a, quantity: 3 })).toEqual({ ok: true }); // exactly at the cap
    expect(await capped.heldUnits("ann")).toBe(10);
    expect(await reserve(randomUUID(), "cid", { productId: a, quantity: 11 })).toMatchObject({ reason: "over_limit", alreadyReserved: 0 });
  });

  it("is checked before the counters are loaded, and a twin of a reserved order is 'exists', never refused", async () => {
    const p = await product(100);
    const orderId = randomUUID();
    expect(await reserve(orderId, "ann", { productId: p, quantity: 10 })).toEqual({ ok: true });
    expect(await reserve(orderId, "ann", { productId: p, quantity: 10 })).toMatchObject({ ok: false, reason: "exists" });
    expect(await reserve(randomUUID(), "ann", { productId: randomUUID(), quantity: 1 })).toMatchObject({ reason: "over_limit" });
    expect(await capped.heldUnits("ann")).toBe(10);
  });

  it("lets exactly as many concurrent orders of one user through as fit", async () => {
    const p = await product(100);
    const results = await Promise.all(Array.from({ length: 8 }, () => reserve(randomUUID(), "ann", { productId: p, quantity: 3 })));
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(await counts(p)).toEqual({ available: 91, reserved: 9, sold: 0 });
    expect(await capped.heldUnits("ann")).toBe(9);
  });

  it("takes an order's units off exactly once, whichever of unhold, release and confirm run and however often", async () => {
    const p = await product(100);
    const sequences: ((id: string) => Promise<unknown>)[][] = [
      [(id) => capped.release(id), (id) => capped.release(id), (id) => capped.confirm(id), (id) => capped.unhold(id)],
      [(id) => capped.confirm(id), (id) => capped.release(id), (id) => capped.unhold(id)],
      [(id) => capped.unhold(id), (id) => capped.unhold(id), (id) => capped.confirm(id), (id) => capped.confirm(id)],
      [(id) => capped.unhold(id), (id) => capped.release(id)], // payment lost the race to expiry after all
      [(id) => capped.release(id, { forget: true }), (id) => capped.release(id), (id) => capped.unhold(id)],
    ];
    const first = randomUUID();
    await reserve(first, "ann", { productId: p, quantity: 1 });
    for (const steps of sequences) {
      const orderId = randomUUID();
      expect(await reserve(orderId, "ann", { productId: p, quantity: 2 })).toEqual({ ok: true });
      expect(await capped.heldUnits("ann")).toBe(3);
      await Promise.all(steps.map((step) => step(orderId)));
      await Promise.all(steps.map((step) => step(orderId))); // redelivered
      expect(await capped.heldUnits("ann")).toBe(1);
    }
    expect(await capped.unhold(first)).toEqual({ ok: true, units: 1 });
    expect(await capped.unhold(first)).toEqual({ ok: false, reason: "not_held" });
    expect(await redis.exists(heldUnitsKey(index, "ann"))).toBe(0); // nothing held: no key
    expect(await capped.release(first)).toEqual({ ok: true, skipped: 0 }); // the stock still goes back
    const stock = await counts(p);
    expect(stock.reserved).toBe(0);
    expect(stock.available + stock.sold).toBe(100);
  });

  it("never goes below zero when the count was lost, and the next order counts from zero", async () => {
    const p = await product(100);
    const [held, later] = [randomUUID(), randomUUID()];
    await reserve(held, "ann", { productId: p, quantity: 8 });
    await redis.del(heldUnitsKey(index, "ann")); // evicted, expired or flushed while the reservation lived on
    expect(await reserve(later, "ann", { productId: p, quantity: 3 })).toEqual({ ok: true });
    expect(await capped.release(held)).toEqual({ ok: true, skipped: 0 });
    expect(await redis.exists(heldUnitsKey(index, "ann"))).toBe(0); // 3 - 8: gone, not -5
    expect(await reserve(randomUUID(), "ann", { productId: p, quantity: CAP })).toEqual({ ok: true });
  });

  it("settles a reservation made before the cap existed (no holder) without touching any count", async () => {
    const p = await product(10);
    const orderId = randomUUID();
    await reserve(orderId, "ann", { productId: p, quantity: 4 });
    await redis.hdel(reservationKey(orderId), "holder", "held"); // as order_reserve.lua wrote it before the cap
    await redis.del(heldUnitsKey(index, "ann"));
    expect(await capped.unhold(orderId)).toEqual({ ok: false, reason: "not_held" });
    expect(await capped.release(orderId)).toEqual({ ok: true, skipped: 0 });
    expect(await counts(p)).toEqual({ available: 10, reserved: 0, sold: 0 });
    expect(await redis.exists(heldUnitsKey(index, "ann"))).toBe(0);
  });
});
