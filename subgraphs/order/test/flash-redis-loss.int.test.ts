import { randomUUID, createHash } from "node:crypto";
import { afterAll, beforeAll, beforeEach, expect, test } from "@jest/globals";
import { config, connectTestInfra, logger, uniqueSku, type Infra } from "../../../test/harness.ts";
import { defineScript } from "../../../common/redis.ts";
import type { FlashOrderPlaced } from "../../../common/events.ts";
import { encodePointer, itemKeys, orderPointerKey, saleChannel } from "../../../common/orders/flash-keys.ts";
import { createFlashFence, FLASH_SOLD_OUT_REASON } from "../../../common/orders/flash-fence.ts";
import { createFlashRebuild } from "../../../common/orders/flash-rebuild.ts";
import { expiryIndexFor } from "../../../common/orders/reservation-keys.ts";
import { createOrderDomain, type OrderDomain } from "../src/domain.ts";
import { Transition } from "../src/transitions.ts";
import { writeFenced } from "../src/flash/fenced-write.ts";

// Issue 20 point 2 for flash sales: after Redis loses its data (a real FLUSHDB of this file's own Redis database),
// the sale item, its open orders' reservations and pointers, its buyers' counts and its idempotency records come
// back from PostgreSQL, every later settlement moves units once, and a purchase Redis accepted before the loss
// whose order is written after the reload is adopted or refused atomically, so the sale never oversells.
const TOMBSTONE = 3_600;
let infra: Infra;
let domain: OrderDomain;
let offsetMs = 0;
const now = () => Date.now() + offsetMs;

beforeAll(async () => {
  infra = await connectTestInfra();
  domain = createOrderDomain({
    prisma: infra.prisma,
    redis: infra.redis,
    logger,
    reservationTtlSeconds: 900,
    tombstoneSeconds: TOMBSTONE,
    orphanGraceSeconds: 5,
    maxUnitsPerUser: 50,
    expiryIndex: expiryIndexFor(config.DATABASE_URL),
    now,
  });
});
afterAll(() => infra.close());
beforeEach(() => {
  offsetMs = 0;
});

const flush = () => infra.redis.flushdb();
const fence = () => createFlashFence(infra.redis, { tombstoneSeconds: TOMBSTONE });
const rebuild = () => createFlashRebuild(infra.redis, infra.prisma, { tombstoneSeconds: TOMBSTONE });

/** A live sale of one item with `quantity` units and `limit` per buyer, in PostgreSQL and loaded in Redis as creation does. */
async function newSale(quantity: number, limit = 100) {
  const productId = randomUUID();
  const saleId = randomUUID();
  await infra.prisma.product.create({
    data: {
      id: productId,
      sku: uniqueSku("FLOSS"),
      name: "Flash",
      description: "",
      priceCents: 900,
      currency: "EUR",
      stock: { create: { available: 0 } },
    },
  });
  const startsAt = Date.now() - 60_000;
  const endsAt = Date.now() + 3_600_000;
  await infra.prisma.flashSale.create({
    data: {
      id: saleId,
      name: "loss",
      startsAt: new Date(startsAt),
      endsAt: new Date(endsAt),
      perUserLimit: limit,
      items: { create: [{ productId, salePriceCents: 500, quantity }] },
    },
  });
  const k = itemKeys(saleId, productId);
  await defineScript(infra.redis, "flash_load")(
    [k.item, k.users],
    [quantity, 0, quantity, 500, "EUR", limit, startsAt, endsAt, "0", saleId, productId],
  );
  return { saleId, productId, k };
}

/** A purchase as purchase.ts makes it (flash_purchase.lua and the pointer); null when refused. Returns its event. */
async function purchase(sale: { saleId: string; productId: string }, quantity = 1, user = `buyer-${randomUUID().slice(0, 8)}`, key = randomUUID()) {
  const { saleId, productId } = sale;
  const k = itemKeys(saleId, productId);
  const orderId = randomUUID();
  const at = Date.now();
  const requestHash = createHash("sha256").update(`${saleId}${productId}${quantity}`).digest("hex");
  const expiresAt = at + 900_000;
  const reply = (await defineScript(infra.redis, "flash_purchase")(
    [k.item, k.users, k.reservation(orderId), k.expiry],
    [orderId, user, quantity, requestHash, at, expiresAt, 100_000, 100_000, saleChannel(saleId), key],
  )) as string[];
  if (reply[0] === "exists") return { exists: true as const, state: reply[1] };
  if (reply[0] !== "ok") return null;
  await infra.redis.set(orderPointerKey(orderId), encodePointer({ saleId, productId, requestHash }), "EX", 3_600);
  const placed: FlashOrderPlaced = {
    orderId,
    userId: user,
    idempotencyKey: key,
    requestHash,
    saleId,
    productId,
    quantity,
    unitPriceCents: 500,
    currency: "EUR",
    reservedUntil: new Date(expiresAt).toISOString(),
    createdAt: new Date(at).toISOString(),
  };
  return placed;
}

async function bought(sale: { saleId: string; productId: string }, quantity = 1, user?: string): Promise<FlashOrderPlaced> {
  const p = await purchase(sale, quantity, user);
  if (!p || "exists" in p) throw new Error("purchase refused");
  return p;
}

/** The writer's path: fence and write under the items' locks, reloading items Redis does not have. */
async function write(placed: FlashOrderPlaced[]) {
  const f = fence();
  let outcome = await writeFenced(infra.prisma, f, placed);
  if (outcome.unloaded.length > 0) {
    await rebuild().loadItem(placed[0]!.saleId, placed[0]!.productId);
    const again = await writeFenced(infra.prisma, f, outcome.unloaded);
    outcome = { write: [...outcome.write, ...again.write], cancel: [...outcome.cancel, ...again.cancel], unloaded: again.unloaded };
  }
  return outcome;
}

/** Redis's counters of the item and PostgreSQL's: units held by orders not CANCELLED or EXPIRED, and CONFIRMED ones. */
async function state(sale: { saleId: string; productId: string }) {
  const k = itemKeys(sale.saleId, sale.productId);
  const [remaining = NaN, sold = NaN, confirmed = NaN] = (await infra.redis.hmget(k.item, "remaining", "sold", "confirmed")).map(Number);
  const [pg] = await infra.prisma.$queryRaw<{ held: number; confirmed: number }[]>`
    SELECT coalesce(sum(i.quantity) FILTER (WHERE o.status NOT IN ('CANCELLED', 'EXPIRED')), 0)::int AS held,
           coalesce(sum(i.quantity) FILTER (WHERE o.status = 'CONFIRMED'), 0)::int AS confirmed
    FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.flash_sale_id = ${sale.saleId}::uuid`;
  return { remaining, sold, confirmed, pgHeld: pg!.held, pgConfirmed: pg!.confirmed };
}

const statusOf = async (id: string) => (await infra.prisma.order.findUnique({ where: { id } }))?.status;

test("after a flush the item comes back with its orders' reservations: cancel, expiry, decline and confirm each move units once", async () => {
  const sale = await newSale(10);
  const [a, b, c, d, e] = [
    await bought(sale, 2, "ann"),
    await bought(sale, 1, "bob"),
    await bought(sale, 2, "ann"),
    await bought(sale, 1, "cy"),
    await bought(sale, 1, "dee"),
  ];
  expect((await write([a, b, c, d, e])).write).toHaveLength(5);
  await domain.transitions.run(e.orderId, Transition.cancelByBuyer(new Date()));
  await domain.transitions.run(d.orderId, Transition.markPaid(new Date()));

  await flush();
  expect(await rebuild().loadItem(sale.saleId, sale.productId)).toBe("loaded");
  // 10 - (2 + 1 + 2 + 1) held; e's unit came back before the flush.
  expect(await state(sale)).toMatchObject({ remaining: 4, sold: 6, pgHeld: 6 });
  expect(await infra.redis.hget(sale.k.users, "ann")).toBe("4");
  expect(await infra.redis.hget(sale.k.reservation(a.orderId), "state")).toBe("reserved");
  expect(await infra.redis.hget(sale.k.reservation(e.orderId), "state")).toBe("released");

  // Each settlement after the reload moves its units once, however often it runs.
  await domain.transitions.run(a.orderId, Transition.cancelByBuyer(new Date()));
  await domain.reservations.release(a.orderId);
  await domain.transitions.run(b.orderId, Transition.declinePayment());
  await domain.transitions.run(d.orderId, Transition.confirm());
  await domain.reservations.confirm(d.orderId);
  expect(await state(sale)).toMatchObject({ remaining: 7, sold: 3, confirmed: 1, pgHeld: 3, pgConfirmed: 1 });
  expect(await infra.redis.hget(sale.k.users, "ann")).toBe("2");

  // The sweeper expires c through its restored expiry entry.
  offsetMs = 901_000 + 5_000;
  await domain.sweeper.sweepOnce();
  expect(await statusOf(c.orderId)).toBe("EXPIRED");
  expect(await state(sale)).toMatchObject({ remaining: 9, sold: 1, confirmed: 1, pgHeld: 1 });
  expect(await infra.redis.hexists(sale.k.users, "ann")).toBe(0);
});

test("a retried purchase key after a flush returns the first order and takes nothing", async () => {
  const sale = await newSale(5);
  const first = await bought(sale, 2, "eve");
  await write([first]);
  await flush();
  await rebuild().loadItem(sale.saleId, sale.productId);
  const k = itemKeys(sale.saleId, sale.productId);
  const reply = (await defineScript(infra.redis, "flash_purchase")(
    [k.item, k.users, k.reservation(first.orderId), k.expiry],
    [first.orderId, "eve", 2, first.requestHash, Date.now(), Date.now() + 900_000, 100_000, 100_000, saleChannel(sale.saleId), first.idempotencyKey],
  )) as string[];
  expect(reply[0]).toBe("exists");
  expect(Number(reply[2])).toBe(Date.parse(first.createdAt));
  expect(await infra.redis.get(orderPointerKey(first.orderId))).toBe(encodePointer({ ...sale, requestHash: first.requestHash }));
  expect(await state(sale)).toMatchObject({ remaining: 3, sold: 2, pgHeld: 2 });
});

test("purchases accepted before the flush and written after the reload are adopted while units remain, then written CANCELLED", async () => {
  const sale = await newSale(4);
  const written = await bought(sale, 1, "w");
  await write([written]);
  // Accepted by Redis, still on their way to PostgreSQL when Redis loses everything.
  const inFlight = [await bought(sale, 1, "x"), await bought(sale, 1, "y"), await bought(sale, 1, "z")];
  await flush();
  await rebuild().loadItem(sale.saleId, sale.productId);
  expect(await state(sale)).toMatchObject({ remaining: 3, sold: 1, pgHeld: 1 });
  // New buyers take two of the three units the reload sees.
  await bought(sale, 1, "n1").then((p) => write([p]));
  await bought(sale, 1, "n2").then((p) => write([p]));

  const outcome = await write(inFlight);
  expect(outcome.write.map((p) => p.orderId)).toEqual([inFlight[0]!.orderId]);
  expect(outcome.cancel.map((p) => p.orderId)).toEqual([inFlight[1]!.orderId, inFlight[2]!.orderId]);
  const refused = await infra.prisma.order.findUnique({ where: { id: inFlight[1]!.orderId } });
  expect(refused).toMatchObject({ status: "CANCELLED", cancelReason: FLASH_SOLD_OUT_REASON });
  expect(await state(sale)).toMatchObject({ remaining: 0, sold: 4, pgHeld: 4 });
  expect(await infra.redis.hget(sale.k.users, "x")).toBe("1");
  expect(await infra.redis.hexists(sale.k.users, "y")).toBe(0);

  // Redelivered, they are decided the same way and change nothing; the adopted one settles once.
  expect((await write(inFlight)).cancel).toHaveLength(2);
  await domain.transitions.run(inFlight[0]!.orderId, Transition.cancelByBuyer(new Date()));
  await domain.reservations.release(inFlight[0]!.orderId);
  expect(await state(sale)).toMatchObject({ remaining: 1, sold: 3, pgHeld: 3 });
});

test("an event written while the item is missing waits for the reload, which the writer runs itself", async () => {
  const sale = await newSale(3);
  const early = await bought(sale, 2, "p");
  await flush();
  const outcome = await write([early]);
  expect(outcome.write.map((p) => p.orderId)).toEqual([early.orderId]);
  expect(await state(sale)).toMatchObject({ remaining: 1, sold: 2, pgHeld: 2 });
});

test("flushes racing reloads, purchases and writes never oversell, and Redis ends equal to PostgreSQL", async () => {
  const quantity = 30;
  const sale = await newSale(quantity);
  const accepted: FlashOrderPlaced[] = [];
  const take = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const p = await purchase(sale).catch(() => null);
      if (p && !("exists" in p)) accepted.push(p);
    }
  };
  await take(12);
  await write(accepted.slice(0, 6));
  const writes: Promise<unknown>[] = [];
  // Two flushes while purchases, reloads (two "processes": separate rebuilders) and writes run concurrently.
  for (let round = 0; round < 2; round++) {
    await flush();
    const batch = accepted.slice();
    writes.push(write(batch.slice(6 + round * 3)));
    await Promise.all([
      rebuild().loadItem(sale.saleId, sale.productId),
      rebuild().loadItem(sale.saleId, sale.productId),
      (async () => {
        for (let i = 0; i < 5 && (await infra.redis.exists(sale.k.item)) === 0; i++) await new Promise((r) => setTimeout(r, 20));
        await take(15);
      })(),
      write(batch.slice(3 * round, 3 * round + 3)),
    ]);
  }
  await Promise.all(writes);
  await write(accepted);
  await rebuild().loadItem(sale.saleId, sale.productId);
  const s = await state(sale);
  expect(s.pgHeld).toBeLessThanOrEqual(quantity);
  expect(s.sold).toBe(s.pgHeld);
  expect(s.remaining + s.sold).toBe(quantity);
  // Every acknowledged purchase is an order, RESERVED or (refused after the loss) CANCELLED.
  const rows = await infra.prisma.order.findMany({ where: { id: { in: accepted.map((p) => p.orderId) } }, select: { status: true } });
  expect(rows).toHaveLength(accepted.length);
  expect(rows.every((r) => r.status === "RESERVED" || r.status === "CANCELLED")).toBe(true);
}, 60_000);
