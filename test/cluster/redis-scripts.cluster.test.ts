import { randomUUID, createHash } from "node:crypto";
import { config, logger } from "../harness.ts";
import { createRedis, defineScript, type Redis } from "../../common/redis.ts";
import { stockKey } from "../../common/stock.ts";
import { heldUnitsKey, reservationKey, restoredMarkerKey } from "../../common/orders/reservation-keys.ts";
import { encodePointer, itemKeys, orderPointerKey } from "../../common/orders/flash-keys.ts";
import { createFlashRelease } from "../../common/orders/flash-release.ts";
import { createFlashFence } from "../../common/orders/flash-fence.ts";
import { createMetrics } from "../../common/metrics.ts";
import { parseCidrList } from "../../common/client-address.ts";
import { createReservations } from "../../subgraphs/order/src/reservations.ts";
import { createFlashReservations } from "../../subgraphs/order/src/flash/reservations.ts";
import { createSaleStock } from "../../subgraphs/flash-sale/src/sale-stock.ts";
import { createRateLimit } from "../../router/src/rate-limit.ts";
import { cacheKeys } from "../../subgraphs/product/src/cache/options.ts";
import { putProducts } from "../../subgraphs/product/src/cache/l2-writes.ts";
import { decodeEntry } from "../../subgraphs/product/src/cache/codec.ts";
import { asCluster, clusterPorts, masterPortOf, slotOf } from "./support.ts";

// Every Lua script's wrapper against a real Redis Cluster of 3 masters (npm run test:cluster): each call names keys
// of one hash tag, so Redis runs it on one slot; a key of another slot would be refused with CROSSSLOT.

let redis: Redis;
const [askPort] = clusterPorts();

beforeAll(() => {
  redis = createRedis(config.REDIS_URL);
});
afterAll(() => redis.quit());

test("the platform's client is an ioredis Cluster over 3 masters, and the tags spread over them", async () => {
  const cluster = asCluster(redis);
  await cluster.ping();
  expect(cluster.nodes("master")).toHaveLength(3);
  // Sale items are spread: 30 items land on more than one master (one item is one slot, by design).
  const owners = new Set<number>();
  for (let i = 0; i < 30; i++) owners.add(await masterPortOf(askPort!, itemKeys(randomUUID(), randomUUID()).item));
  expect(owners.size).toBeGreaterThan(1);
  // Every regular reservation key is on the {stock} slot.
  const stockSlot = await slotOf(askPort!, stockKey(randomUUID()));
  for (const key of [reservationKey(randomUUID()), heldUnitsKey(`{stock}:reservations:expiry:x`, "u"), stockKey(randomUUID())])
    expect(await slotOf(askPort!, key)).toBe(stockSlot);
});

test("a script given keys of two slots is refused by the cluster, so a wrong wrapper could not go unnoticed", async () => {
  const adjust = defineScript(redis, "flash_take_stock");
  await expect(adjust([stockKey(randomUUID()), `other:${randomUUID()}`], [1, 1])).rejects.toThrow(/CROSSSLOT|same slot/);
});

describe("order scripts ({stock})", () => {
  const index = `{stock}:reservations:expiry:cluster-${randomUUID()}`;
  const reservations = () => createReservations(redis, { index, tombstoneSeconds: 3600, maxUnitsPerUser: 10, heldUnitsTtlSeconds: 3600 });
  const counts = async (id: string) => (await redis.hmget(stockKey(id), "available", "reserved", "sold")).map(Number);
  async function product(available: number) {
    const id = randomUUID();
    await redis.hset(stockKey(id), { available, reserved: 0, sold: 0 });
    return id;
  }
  beforeAll(async () => {
    await redis.set(restoredMarkerKey(index), Date.now());
  });

  it("reserves two items and the buyer's count in one step, confirms once, releases once, unholds once", async () => {
    const r = reservations();
    const [a, b] = [await product(5), await product(5)].sort();
    const paid = randomUUID();
    expect(
      await r.reserve(
        paid,
        Date.now() + 60_000,
        "h1",
        [
          { productId: a!, quantity: 2 },
          { productId: b!, quantity: 1 },
        ],
        "ann",
      ),
    ).toEqual({ ok: true });
    expect(await counts(a!)).toEqual([3, 2, 0]);
    expect(await r.heldUnits("ann")).toBe(3);
    expect(await r.unhold(paid)).toEqual({ ok: true, units: 3 });
    expect(await r.unhold(paid)).toEqual({ ok: false, reason: "not_held" });
    expect(await r.confirm(paid)).toEqual({ ok: true, skipped: 0 });
    expect(await r.confirm(paid)).toEqual({ ok: false, reason: "already", state: "confirmed" });
    expect(await counts(a!)).toEqual([3, 0, 2]);

    const cancelled = randomUUID();
    expect(await r.reserve(cancelled, Date.now() + 60_000, "h2", [{ productId: b!, quantity: 4 }], "ann")).toEqual({ ok: true });
    expect(await r.reserve(randomUUID(), Date.now() + 60_000, "h3", [{ productId: b!, quantity: 1 }], "ann")).toEqual({
      ok: false,
      reason: "short",
      productId: b,
      available: 0,
    });
    expect(await r.release(cancelled)).toEqual({ ok: true, skipped: 0 });
    expect(await r.release(cancelled)).toEqual({ ok: false, reason: "already", state: "released" });
    expect(await counts(b!)).toEqual([4, 0, 1]);
    expect(await r.heldUnits("ann")).toBe(0);
  });

  it("flash_take_stock takes from several products' regular stock at once", async () => {
    const [a, b] = [await product(5), await product(2)];
    const take = defineScript(redis, "flash_take_stock");
    expect(await take([stockKey(a), stockKey(b)], [3, 3])).toEqual(["short", 2, 2]);
    expect(await take([stockKey(a), stockKey(b)], [3, 2])).toEqual(["ok"]);
    expect((await counts(a))[0]).toBe(2);
    expect((await counts(b))[0]).toBe(0);
  });
});

describe("flash-sale scripts ({fs:<sale>:<product>})", () => {
  const stock = () => createSaleStock(redis);
  async function loadItem(quantity: number) {
    const saleId = randomUUID();
    const productId = randomUUID();
    const now = Date.now();
    await stock().load({
      saleId,
      productId,
      remaining: quantity,
      sold: 0,
      quantity,
      priceCents: 500,
      currency: "EUR",
      perUserLimit: 2,
      startsAtMs: now - 1_000,
      endsAtMs: now + 3_600_000,
      ended: false,
      users: new Map(),
    });
    return { saleId, productId };
  }
  async function buy(item: { saleId: string; productId: string }, userId: string, orderId = randomUUID()) {
    const now = Date.now();
    const requestHash = createHash("sha256").update(orderId).digest("hex");
    const result = await stock().purchase({
      ...item,
      orderId,
      userId,
      idempotencyKey: orderId,
      quantity: 1,
      requestHash,
      nowMs: now,
      expiresAtMs: now + 900_000,
      rate: 1_000,
      burst: 1_000,
    });
    if (result.ok) await redis.set(orderPointerKey(orderId), encodePointer({ ...item, requestHash }), "EX", 3_600);
    return { orderId, requestHash, result, createdAt: new Date(now).toISOString(), reservedUntil: new Date(now + 900_000).toISOString() };
  }

  it("purchase, per-user limit, sold out, release, confirm, end and drain, on items of different masters", async () => {
    const first = await loadItem(3);
    let second = await loadItem(1);
    // Two items on two different masters: each item's scripts run where its slot is.
    while (
      (await masterPortOf(askPort!, itemKeys(second.saleId, second.productId).item)) ===
      (await masterPortOf(askPort!, itemKeys(first.saleId, first.productId).item))
    )
      second = await loadItem(1);

    const a = await buy(first, "ann");
    const b = await buy(first, "ann");
    expect(a.result).toMatchObject({ ok: true, remaining: 2 });
    expect(b.result).toMatchObject({ ok: true, remaining: 1 });
    expect((await buy(first, "ann")).result).toEqual({ ok: false, reason: "limit", limit: 2, alreadyPurchased: 2 });
    expect((await buy(second, "bob")).result).toMatchObject({ ok: true, remaining: 0 });
    expect((await buy(second, "cat")).result).toEqual({ ok: false, reason: "short", remaining: 0 });

    const release = createFlashRelease(redis, { tombstoneSeconds: 3600 });
    expect(await release.release(a.orderId)).toEqual({ ok: true, skipped: 0 });
    expect(await release.release(a.orderId)).toEqual({ ok: false, reason: "already", state: "released" });
    const flash = createFlashReservations(redis, {
      registry: `{stock}:reservations:expiry:cluster-${randomUUID()}:flash-items`,
      tombstoneSeconds: 3600,
    });
    expect(await flash.confirm(b.orderId)).toEqual({ ok: true, skipped: 0 });
    expect(await flash.confirm(b.orderId)).toEqual({ ok: false, reason: "already", state: "confirmed" });

    expect(await stock().end(first.saleId, first.productId)).toMatchObject({ remaining: 2 });
    expect((await buy(first, "dan")).result).toMatchObject({ ok: false, reason: "not_active" });
    const drain = await stock().drain(first.saleId, first.productId);
    expect(drain).toEqual({ kind: "drain", seq: 1, units: 2 });
    expect(await stock().drainAck(first.saleId, first.productId, 1)).toBe(true);
    expect(await stock().drain(first.saleId, first.productId)).toEqual({ kind: "none" });
  });

  it("the order writer's fence admits the purchase and restores pointers, each pointer on its own slot", async () => {
    const item = await loadItem(5);
    const bought = await Promise.all([buy(item, "eve"), buy(item, "fay"), buy(item, "gus")]);
    const fence = createFlashFence(redis, { tombstoneSeconds: 3600 });
    const attempts = bought.map((b, i) => ({
      orderId: b.orderId,
      saleId: item.saleId,
      productId: item.productId,
      createdAt: b.createdAt,
      requestHash: b.requestHash,
      userId: ["eve", "fay", "gus"][i]!,
      quantity: 1,
      unitPriceCents: 500,
      reservedUntil: b.reservedUntil,
      idempotencyKey: b.orderId,
    }));
    // Two of these were never bought on this item: Redis has no reservation; the loaded item adopts them.
    const adopted = [randomUUID(), randomUUID()].map((orderId) => ({ ...attempts[0]!, orderId, idempotencyKey: orderId, userId: `u-${orderId}` }));
    const outcome = await fence.decide([...attempts, ...adopted]);
    expect(outcome.write.map((o) => o.orderId).sort()).toEqual([...attempts, ...adopted].map((o) => o.orderId).sort());
    // The adopted orders' pointers were written, one command per slot, not one pipeline (which a cluster refuses).
    const ports = new Set<number>();
    for (const o of adopted) {
      expect(await redis.get(orderPointerKey(o.orderId))).toBe(
        encodePointer({ saleId: item.saleId, productId: item.productId, requestHash: o.requestHash }),
      );
      ports.add(await masterPortOf(askPort!, orderPointerKey(o.orderId)));
    }
    expect(ports.size).toBeGreaterThanOrEqual(1);
  });
});

test("rate_limit.lua ({rl}): one router's buckets over the cluster", async () => {
  const limits = createRateLimit(
    { redis, ipRate: 1, ipBurst: 2, userRate: 100, userBurst: 100, exempt: parseCidrList("") },
    { identityOf: async () => ({}) as never, metrics: createMetrics(`cluster-${randomUUID()}`), logger },
  );
  const ip = `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.7`;
  expect(await limits.take(ip, "ann")).toEqual({ ok: true });
  expect(await limits.take(ip, "ann")).toEqual({ ok: true });
  expect(await limits.take(ip, "ann")).toMatchObject({ ok: false, reason: "ip" });
  // The buckets are in the cluster (not the per-process fallback): both keys exist on the {rl} slot.
  expect(await redis.exists(`{rl}:ip:${ip}`)).toBe(1);
  expect(await redis.exists(`{rl}:user:ann`)).toBe(1);
});

test("cache_put.lua (one product key per call): many products on many masters in one call of putProducts", async () => {
  const keys = cacheKeys(`fg:cluster-${randomUUID()}:cache:`);
  const ids = Array.from({ length: 12 }, () => randomUUID());
  await putProducts(
    redis,
    keys,
    ids.map((id, i) => [id, { priceVersion: 2, updatedAtMs: 1_000 + i, json: JSON.stringify({ id }) }, 60_000]),
  );
  // An older revision does not overwrite a newer one.
  await putProducts(redis, keys, [[ids[0]!, { priceVersion: 1, updatedAtMs: 9_999, json: JSON.stringify({ id: "old" }) }, 60_000]]);
  const ports = new Set(await Promise.all(ids.map((id) => masterPortOf(askPort!, keys.product(id)))));
  expect(ports.size).toBeGreaterThan(1);
  for (const id of ids) expect(decodeEntry((await redis.get(keys.product(id)))!)).toMatchObject({ id });
});
