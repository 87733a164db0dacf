import { randomUUID } from "node:crypto";
import { config, connectTestInfra, logger, uniqueSku, type Infra } from "../../../test/harness.ts";
import { eventually } from "../../../test/eventually.ts";
import { pgStock, redisStock, total } from "../../../test/stock.ts";
import { createStockCounters, type StockCounters } from "../../../common/stock.ts";
import { expiryIndexFor, reservationKey } from "../../../common/orders/reservation-keys.ts";
import { orderIdFor } from "../../../common/orders/order-id.ts";
import { createOrderDomain, type OrderDomain } from "../src/domain.ts";
import { Transition } from "../src/transitions.ts";

// Redis is a cache of PostgreSQL's truth, also after losing its data (issue 20 point 2). Every test flushes this
// file's own Redis database (FLUSHDB) while orders hold stock, then settles them and compares Redis with PostgreSQL.
// The order domain uses the database's expiry index, as the order service does, so the storefront's counters (built
// like the inventory subgraph's, with the defaults) restore reservations into the index the sweeper reads.
const TTL_SECONDS = 60;
const GRACE_SECONDS = 5;
const CAP = 10;
let offsetMs = 0;
const now = () => Date.now() + offsetMs;
let infra: Infra;
let domain: OrderDomain;
let storefront: StockCounters;

const newDomain = () =>
  createOrderDomain({
    prisma: infra.prisma,
    redis: infra.redis,
    logger,
    reservationTtlSeconds: TTL_SECONDS,
    tombstoneSeconds: config.RESERVATION_TOMBSTONE_SECONDS,
    orphanGraceSeconds: GRACE_SECONDS,
    maxUnitsPerUser: CAP,
    expiryIndex: expiryIndexFor(config.DATABASE_URL),
    now,
  });

beforeAll(async () => {
  infra = await connectTestInfra();
  domain = newDomain();
  storefront = createStockCounters(infra.redis, infra.prisma);
});
afterAll(() => infra.close());
beforeEach(() => {
  offsetMs = 0;
});

async function newProduct(available: number): Promise<string> {
  const id = randomUUID();
  await infra.prisma.product.create({
    data: { id, sku: uniqueSku("LOSS"), name: "Lost", description: "", priceCents: 100, currency: "USD", stock: { create: { available } } },
  });
  return id;
}

const line = (productId: string, quantity: number) => ({ productId, quantity, expectedPriceCents: null, priceVersion: null });
const byProduct = <T extends { productId: string }>(items: T[]) => [...items].sort((a, b) => (a.productId < b.productId ? -1 : 1));
const place = (user: string, items: [string, number][], key: string = randomUUID()) =>
  domain.placeOrder(user, { idempotencyKey: key, items: byProduct(items.map(([p, q]) => line(p, q))) });

const flush = () => infra.redis.flushdb();
const cancel = (id: string) => domain.transitions.run(id, Transition.cancelByBuyer(new Date(now())));
/** What the saga does: PaymentSucceeded (RESERVED -> PAID), then fulfilment (PAID -> CONFIRMED). */
async function pay(id: string) {
  expect((await domain.transitions.run(id, Transition.markPaid(new Date(now())))).changed).toBe(true);
  expect((await domain.transitions.run(id, Transition.confirm())).changed).toBe(true);
}

/** Redis equals PostgreSQL for every product (read through the storefront, loading what Redis lacks), total conserved. */
async function expectTruth(products: Record<string, number>) {
  for (const [id, units] of Object.entries(products)) {
    const [live] = await storefront.read([id]);
    const truth = await pgStock(infra.prisma, id);
    expect({ id, ...live }).toEqual({ id, productId: id, ...truth });
    expect(total(truth)).toBe(units);
  }
}

const reservedQuantity = async (productId: string) =>
  (
    await infra.prisma.orderItem.aggregate({
      where: { productId, order: { status: { in: ["RESERVED", "PAID"] } } },
      _sum: { quantity: true },
    })
  )._sum.quantity ?? 0;

test("the issue's case: flushed while two orders hold stock, read, then one cancelled and one paid: Redis ends at the truth", async () => {
  const p = await newProduct(6);
  const a = await place(`a-${randomUUID()}`, [[p, 2]]);
  const b = await place(`b-${randomUUID()}`, [[p, 2]]);
  await expectTruth({ [p]: 6 });
  expect(await redisStock(infra.redis, p)).toEqual({ available: 2, reserved: 4, sold: 0 });

  await flush();
  expect(await storefront.read([p])).toEqual([{ productId: p, available: 2, reserved: 4, sold: 0 }]); // a storefront reads the stock
  await cancel(a.id);
  await pay(b.id);

  expect(await pgStock(infra.prisma, p)).toEqual({ available: 4, reserved: 0, sold: 2 });
  expect(await redisStock(infra.redis, p)).toEqual({ available: 4, reserved: 0, sold: 2 });
  // settling again (a redelivered event, the sweeper's repair) moves nothing
  await domain.transitions.settleReservation(a.id, "CANCELLED");
  await domain.transitions.settleReservation(b.id, "CONFIRMED");
  offsetMs = (TTL_SECONDS + GRACE_SECONDS) * 1000 + 1;
  await domain.sweeper.sweepOnce();
  expect(await redisStock(infra.redis, p)).toEqual({ available: 4, reserved: 0, sold: 2 });
  await expectTruth({ [p]: 6 });
});

test("pay, confirm, cancel and expire after a flush each move the units once, whether Redis was read before or not", async () => {
  for (const readFirst of [true, false]) {
    await flush();
    const p = await newProduct(20);
    const user = () => `u-${randomUUID()}`;
    const [paid, cancelled, expired, confirmedLate] = [
      await place(user(), [[p, 1]]),
      await place(user(), [[p, 2]]),
      await place(user(), [[p, 3]]),
      await place(user(), [[p, 4]]),
    ];
    await domain.transitions.run(confirmedLate.id, Transition.markPaid(new Date(now())));
    await flush();
    if (readFirst) expect((await storefront.read([p]))[0]).toMatchObject({ available: 10, reserved: 10, sold: 0 });

    await pay(paid.id);
    await cancel(cancelled.id);
    await domain.transitions.run(confirmedLate.id, Transition.confirm());
    offsetMs = TTL_SECONDS * 1000 + 1;
    await domain.sweeper.sweepOnce(); // the restored index entry (or, without it, the database pass below)
    offsetMs = (TTL_SECONDS + GRACE_SECONDS) * 1000 + 1;
    await domain.sweeper.sweepOnce();
    const statuses = await infra.prisma.order.findMany({
      where: { id: { in: [paid.id, cancelled.id, expired.id, confirmedLate.id] } },
      select: { id: true, status: true },
    });
    expect(Object.fromEntries(statuses.map((o) => [o.id, o.status]))).toEqual({
      [paid.id]: "CONFIRMED",
      [cancelled.id]: "CANCELLED",
      [expired.id]: "EXPIRED",
      [confirmedLate.id]: "CONFIRMED",
    });
    expect(await pgStock(infra.prisma, p)).toEqual({ available: 15, reserved: 0, sold: 5 });
    await expectTruth({ [p]: 20 });
    offsetMs = 0;
  }
});

test("a multi-item order settles once per item when only some of its products were loaded before it settled", async () => {
  for (const settle of ["cancel", "pay"] as const) {
    const [p, q] = [await newProduct(10), await newProduct(10)];
    const order = await place(`m-${randomUUID()}`, [
      [p, 2],
      [q, 3],
    ]);
    const keep = await place(`k-${randomUUID()}`, [[q, 1]]);
    await flush();
    await storefront.read([p]); // restores the order with q pending
    if (settle === "cancel") await cancel(order.id);
    else await pay(order.id);
    await expectTruth({ [p]: 10, [q]: 10 }); // q loaded after the settlement: PostgreSQL already has it
    await cancel(keep.id); // an order restored by q's load still settles in Redis
    await expectTruth({ [p]: 10, [q]: 10 });
    expect(await redisStock(infra.redis, q)).toEqual(
      settle === "cancel" ? { available: 10, reserved: 0, sold: 0 } : { available: 7, reserved: 0, sold: 3 },
    );
  }
});

test("the expiry sweeper expires RESERVED orders whose reservation and index entry were flushed", async () => {
  await flush();
  const p = await newProduct(5);
  const order = await place(`e-${randomUUID()}`, [[p, 4]]);
  await flush();
  offsetMs = (TTL_SECONDS + GRACE_SECONDS) * 1000 + 1;
  const report = await domain.sweeper.sweepOnce();
  expect(report.expired).toBe(1);
  expect((await infra.prisma.order.findUniqueOrThrow({ where: { id: order.id } })).status).toBe("EXPIRED");
  await expectTruth({ [p]: 5 });
  expect(await redisStock(infra.redis, p)).toEqual({ available: 5, reserved: 0, sold: 0 });
});

test("a retried idempotency key after a flush returns the first order, never a second one or an error", async () => {
  const p = await newProduct(10);
  const user = `r-${randomUUID()}`;
  const key = randomUUID();
  const first = await place(user, [[p, 3]], key);
  await flush();
  const retries = await Promise.all(Array.from({ length: 5 }, () => place(user, [[p, 3]], key)));
  for (const retry of retries) expect(retry.id).toBe(first.id);
  expect(await infra.prisma.order.count({ where: { userId: user } })).toBe(1);
  await expectTruth({ [p]: 10 });
  expect(await redisStock(infra.redis, p)).toEqual({ available: 7, reserved: 3, sold: 0 });
  await cancel(first.id);
  expect(await redisStock(infra.redis, p)).toEqual({ available: 10, reserved: 0, sold: 0 });

  // Redis lost everything again while a retry of a new key's order is in flight: still one order, units once.
  const second = randomUUID();
  await flush();
  const racing = await Promise.all(Array.from({ length: 5 }, () => place(user, [[p, 2]], second)));
  expect(new Set(racing.map((o) => o.id))).toEqual(new Set([orderIdFor(user, second)]));
  expect(await infra.prisma.order.count({ where: { userId: user } })).toBe(2);
  await expectTruth({ [p]: 10 });
  expect(await redisStock(infra.redis, p)).toEqual({ available: 8, reserved: 2, sold: 0 });
});

test("the per-user cap still counts the orders a user held before the flush", async () => {
  const [p, q, r] = [await newProduct(50), await newProduct(50), await newProduct(50)];
  const user = `cap-${randomUUID()}`;
  const held = [await place(user, [[p, 4]]), await place(user, [[q, 4]])];
  const paid = await place(user, [[q, 1]]);
  await domain.transitions.run(paid.id, Transition.markPaid(new Date(now()))); // paid: no longer counted
  await flush();
  await storefront.read([p]); // a storefront read first restores some of the orders (without the buyer's count)

  await expect(place(user, [[r, 3]])).rejects.toMatchObject({
    extensions: { code: "PURCHASE_LIMIT_EXCEEDED", limit: CAP, alreadyReserved: 8 },
  });
  expect(await domain.reservations.heldUnits(user)).toBe(8);
  await place(user, [[r, 2]]);
  expect(await domain.reservations.heldUnits(user)).toBe(10);
  await cancel(held[0]!.id);
  expect(await domain.reservations.heldUnits(user)).toBe(6);
  await domain.transitions.run(paid.id, Transition.confirm());
  expect(await domain.reservations.heldUnits(user)).toBe(6);
  await expectTruth({ [p]: 50, [q]: 50, [r]: 50 });
});

/**
 * Holds every write to `orders` back (a SHARE lock blocks writes, not reads) until `release` is called; `blocker`
 * settles once the lock is let go.
 */
async function holdOrderWrites(): Promise<{ release: () => void; blocker: Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const blocker = infra.prisma.$transaction(
    async (tx) => {
      await tx.$executeRaw`LOCK TABLE orders IN SHARE MODE`;
      locked();
      await gate;
    },
    { timeout: 30_000 },
  );
  await isLocked;
  return { release, blocker };
}

test("a placeOrder whose reservation is flushed before its write, with a rebuild in between, is restored: units counted once", async () => {
  const [p, q] = [await newProduct(10), await newProduct(10)];
  await place(`warm-${randomUUID()}`, [[p, 1]]); // Redis is rebuilt and counting
  const user = `race-${randomUUID()}`;
  const key = randomUUID();
  const orderId = orderIdFor(user, key);
  // Hold the order's INSERT back until the rebuild has run.
  const { release, blocker } = await holdOrderWrites();
  const placing = place(
    user,
    [
      [p, 2],
      [q, 3],
    ],
    key,
  );
  await eventually(async () => ((await infra.redis.exists(reservationKey(orderId))) === 1 ? true : undefined), 10_000, "the reservation");
  await flush(); // the reservation is lost, the write has not happened yet
  expect(await storefront.read([p])).toEqual([{ productId: p, available: 9, reserved: 1, sold: 0 }]); // without the order
  release();
  await blocker;
  const order = await placing;
  expect(order.id).toBe(orderId);
  await expectTruth({ [p]: 10, [q]: 10 });
  expect(await redisStock(infra.redis, p)).toEqual({ available: 7, reserved: 3, sold: 0 });
  expect(await redisStock(infra.redis, q)).toEqual({ available: 7, reserved: 3, sold: 0 });
  // The flush took the held-units counters too: the next placeOrder rebuilds them (restoreAll) before counting.
  await domain.counters.restoreAll();
  expect(await domain.reservations.heldUnits(user)).toBe(5);
  await cancel(order.id);
  expect(await redisStock(infra.redis, p)).toEqual({ available: 9, reserved: 1, sold: 0 });
  expect(await redisStock(infra.redis, q)).toEqual({ available: 10, reserved: 0, sold: 0 });
  expect(await domain.reservations.heldUnits(user)).toBe(0);
});

test("a placeOrder whose reservation is flushed before its write, with no rebuild in between, restores the other open orders of its products too", async () => {
  const [p, r] = [await newProduct(20), await newProduct(20)];
  const single = await place(`s-${randomUUID()}`, [[p, 2]]); // holds units of p only
  const multi = await place(`m-${randomUUID()}`, [
    [p, 1],
    [r, 1],
  ]); // restored with p pending by the read of r below
  const user = `race-${randomUUID()}`;
  const key = randomUUID();
  const orderId = orderIdFor(user, key);
  const { release, blocker } = await holdOrderWrites();
  const placing = place(user, [[p, 3]], key);
  await eventually(async () => ((await infra.redis.exists(reservationKey(orderId))) === 1 ? true : undefined), 10_000, "the reservation");
  await flush(); // the reservation is lost; p is not read again before the write, so restoring the order loads p
  await storefront.read([r]);
  expect(await infra.redis.hget(reservationKey(multi.id), "pending")).toBe(JSON.stringify([p]));
  release();
  await blocker;
  expect((await placing).id).toBe(orderId);
  expect(await redisStock(infra.redis, p)).toEqual({ available: 14, reserved: 6, sold: 0 });
  expect(await infra.redis.hget(reservationKey(multi.id), "pending")).toBeNull(); // p's load found the order open
  expect(await infra.redis.exists(reservationKey(single.id))).toBe(1);

  await pay(single.id);
  await pay(multi.id);
  await cancel(orderId);
  expect(await redisStock(infra.redis, p)).toEqual({ available: 17, reserved: 0, sold: 3 });
  await expectTruth({ [p]: 20, [r]: 20 });
});

test("concurrent orders, flushes and rebuilds in two processes keep Redis equal to PostgreSQL, and everything settles once", async () => {
  const p = await newProduct(200);
  const other = newDomain();
  const otherStorefront = createStockCounters(infra.redis, infra.prisma);
  const users = Array.from({ length: 30 }, (_, i) => `c${i}-${randomUUID()}`);
  const placing = Promise.allSettled(
    users.flatMap((u, i) => [1, 2].map((n) => (i % 2 ? domain : other).placeOrder(u, { idempotencyKey: `k${n}`, items: [line(p, 1 + (i % 3))] }))),
  );
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 15));
    await flush();
    await Promise.all([storefront.read([p]), otherStorefront.read([p]), domain.counters.restoreAll(), other.counters.restoreAll()]);
  }
  const results = await placing;
  // A request can fail only with nothing written (Redis was lost again under its rebuild); its key is free again.
  const placed = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  expect(placed.length).toBeGreaterThan(0);
  expect(await infra.prisma.order.count({ where: { userId: { in: users } } })).toBe(placed.length);
  await expectTruth({ [p]: 200 });
  expect((await redisStock(infra.redis, p))!.reserved).toBe(await reservedQuantity(p));

  for (const [i, order] of placed.entries()) {
    if (i % 3 === 0) await cancel(order.id);
    else if (i % 3 === 1) await pay(order.id);
  }
  offsetMs = (TTL_SECONDS + GRACE_SECONDS) * 1000 + 1;
  await Promise.all([domain.sweeper.sweepOnce(), other.sweeper.sweepOnce()]);
  await expectTruth({ [p]: 200 });
  expect(await pgStock(infra.prisma, p)).toMatchObject({ reserved: 0 });
  for (const u of users) expect(await domain.reservations.heldUnits(u)).toBe(0);
});
