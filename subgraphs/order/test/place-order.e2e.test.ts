import { randomUUID } from "node:crypto";
import { adminToken, config, startStack, token, type Stack, codeOf } from "../../../test/harness.ts";
import { requestHash } from "../src/input.ts";
import { stockKey } from "../../../common/stock.ts";
import { reservationKey } from "../../../common/orders/reservation-keys.ts";
import { orderIdFor } from "../../../common/orders/order-id.ts";
import { createProduct, line, orderInput, PLACE_ORDER } from "../../../test/orders.ts";
import { foldedStock, pgStock, redisStock, total, type Counts } from "../../../test/stock.ts";

// placeOrder through the router against real PostgreSQL and Redis: atomic reservation, idempotency, prices.
let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack();
  admin = await adminToken();
});
afterAll(() => stack.close());

const place = (user: string, input: unknown) => stack.gql(PLACE_ORDER, { input }, { token: user });
const ordersOfProduct = (productId: string) => stack.prisma.order.findMany({ where: { items: { some: { productId } } }, include: { items: true } });

test("200 concurrent orders for 50 units: exactly 50 RESERVED, 150 OUT_OF_STOCK, and the total never moves", async () => {
  const product = await createProduct(stack.gql, admin, 50);
  const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => token(`buyer-${i}-${randomUUID()}`)));
  const samples: { pg: Counts; redis: Counts | null }[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push({ pg: await pgStock(stack.prisma, product.id), redis: await redisStock(stack.redis, product.id) });
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  const results = await Promise.all(tokens.map((t) => place(t, orderInput([line(product)]))));
  sampling = false;
  await sampler;

  const reserved = results.filter((r) => r.data?.placeOrder?.status === "RESERVED");
  const outOfStock = results.filter((r) => codeOf(r) === "OUT_OF_STOCK");
  expect(reserved).toHaveLength(50);
  expect(outOfStock).toHaveLength(150);
  for (const r of outOfStock) expect(r.errors![0]!.extensions).toMatchObject({ productId: product.id, available: 0 });

  expect(samples.length).toBeGreaterThan(5);
  for (const s of samples) {
    expect(total(s.pg)).toBe(50);
    if (s.redis) expect(total(s.redis)).toBe(50);
  }
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 0, reserved: 50, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 0, reserved: 50, sold: 0 });
  const orders = await ordersOfProduct(product.id);
  expect(orders).toHaveLength(50);
  expect(orders.every((o) => o.status === "RESERVED" && o.items[0]!.quantity === 1)).toBe(true);
});

test("a multi-item order where one item is short reserves nothing", async () => {
  const plenty = await createProduct(stack.gql, admin, 10);
  const scarce = await createProduct(stack.gql, admin, 1);
  const user = await token(`u-${randomUUID()}`);
  const res = await place(user, orderInput([line(plenty, 2), line(scarce, 2)]));
  expect(codeOf(res)).toBe("OUT_OF_STOCK");
  expect(res.errors![0]!.extensions).toMatchObject({ productId: scarce.id, available: 1 });
  for (const [p, units] of [
    [plenty, 10],
    [scarce, 1],
  ] as const) {
    expect(await pgStock(stack.prisma, p.id)).toEqual({ available: units, reserved: 0, sold: 0 });
    expect(await redisStock(stack.redis, p.id)).toEqual({ available: units, reserved: 0, sold: 0 });
  }
  expect(await ordersOfProduct(plenty.id)).toHaveLength(0);
});

test("a multi-item order reserves every item, priced by the catalogue, and shows products through the federation", async () => {
  const a = await createProduct(stack.gql, admin, 10, { priceCents: 250, name: "Cap" });
  const b = await createProduct(stack.gql, admin, 10, { priceCents: 1_999, name: "Tee" });
  const user = await token(`u-${randomUUID()}`);
  const res = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id status totalCents currency reservedUntil
       items { quantity unitPriceCents product { id name priceCents stock { available reserved } } } } }`,
    {
      input: {
        idempotencyKey: randomUUID(),
        items: [
          { productId: a.id, quantity: 3 },
          { productId: b.id, quantity: 2 },
        ],
      },
    },
    { token: user },
  );
  expect(res.errors).toBeUndefined();
  const order = res.data!.placeOrder;
  expect(order).toMatchObject({ status: "RESERVED", totalCents: 3 * 250 + 2 * 1_999, currency: "USD" });
  const items = [...order.items].sort((x: any, y: any) => x.product.name.localeCompare(y.product.name));
  expect(items).toEqual([
    { quantity: 3, unitPriceCents: 250, product: { id: a.id, name: "Cap", priceCents: 250, stock: { available: 7, reserved: 3 } } },
    { quantity: 2, unitPriceCents: 1_999, product: { id: b.id, name: "Tee", priceCents: 1_999, stock: { available: 8, reserved: 2 } } },
  ]);
  const ttlMs = new Date(order.reservedUntil).getTime() - Date.now();
  expect(ttlMs).toBeGreaterThan(14 * 60_000);
  expect(ttlMs).toBeLessThanOrEqual(15 * 60_000);
  expect(await pgStock(stack.prisma, a.id)).toEqual({ available: 7, reserved: 3, sold: 0 });

  // the same statement wrote the order's event; the stock aggregator then folds the moves into the rows and writes
  // one StockChanged per product with the committed counters
  const placedEvent = (await stack.prisma.outboxEvent.findMany({ where: { key: order.id } }))[0]!;
  expect(placedEvent).toMatchObject({ topic: "order", type: "OrderStatusChanged" });
  expect(placedEvent.payload).toMatchObject({
    id: placedEvent.eventId,
    aggregateId: order.id,
    version: 1,
    data: {
      previousStatus: null,
      order: { id: order.id, status: "RESERVED", totalCents: 3 * 250 + 2 * 1_999, reservedUntil: order.reservedUntil, cancelReason: null },
    },
  });
  for (const [p, quantity, available] of [
    [a, 3, 7],
    [b, 2, 8],
  ] as const) {
    expect(await foldedStock(stack.prisma, p.id)).toEqual({ available, reserved: quantity, sold: 0 });
    const folded = await stack.prisma.outboxEvent.findMany({ where: { key: p.id, type: "StockChanged" }, orderBy: { id: "asc" } });
    const last = folded.at(-1)!;
    expect(last).toMatchObject({ topic: "inventory", type: "StockChanged" });
    expect(last.payload).toMatchObject({
      id: last.eventId,
      aggregateId: p.id,
      data: { productId: p.id, available, reserved: quantity, sold: 0, reason: "orders", delta: -quantity },
    });
    expect((last.payload as any).data.version).toBeGreaterThan(0);
  }
});

test("20 identical requests in parallel make one order and one reservation", async () => {
  const product = await createProduct(stack.gql, admin, 100);
  const userId = `u-${randomUUID()}`;
  const user = await token(userId);
  const input = orderInput([line(product, 3)]);
  const results = await Promise.all(Array.from({ length: 20 }, () => place(user, input)));
  for (const r of results) expect(r.errors).toBeUndefined();
  const ids = new Set(results.map((r) => r.data!.placeOrder.id));
  expect([...ids]).toEqual([orderIdFor(userId, input.idempotencyKey)]);
  expect(await stack.prisma.order.count({ where: { userId } })).toBe(1);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 97, reserved: 3, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 97, reserved: 3, sold: 0 });
  // and again later, sequentially: still the same order
  const again = await place(user, input);
  expect(again.data!.placeOrder.id).toBe([...ids][0]);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 97, reserved: 3, sold: 0 });
});

test("the same key with a different input is IDEMPOTENCY_KEY_REUSED and changes nothing; keys are per user", async () => {
  const product = await createProduct(stack.gql, admin, 10);
  const user = await token(`u-${randomUUID()}`);
  const key = randomUUID();
  expect((await place(user, orderInput([line(product, 1)], key))).errors).toBeUndefined();
  const reused = await place(user, orderInput([line(product, 2)], key));
  expect(codeOf(reused)).toBe("IDEMPOTENCY_KEY_REUSED");
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 9, reserved: 1, sold: 0 });
  const concurrent = await Promise.all([1, 2, 3].map((q) => place(user, orderInput([line(product, q)], `${key}-c`))));
  expect(concurrent.filter((r) => r.data?.placeOrder)).toHaveLength(1);
  expect(concurrent.filter((r) => codeOf(r) === "IDEMPOTENCY_KEY_REUSED")).toHaveLength(2);
  const someoneElse = await place(await token(`u-${randomUUID()}`), orderInput([line(product, 2)], key));
  expect(someoneElse.data!.placeOrder.status).toBe("RESERVED");
});

test("a stale expectedPriceCents or priceVersion is PRICE_CHANGED with the current price, and nothing is reserved", async () => {
  const product = await createProduct(stack.gql, admin, 10, { priceCents: 5_000 });
  const user = await token(`u-${randomUUID()}`);
  const stalePrice = await place(user, orderInput([{ ...line(product), expectedPriceCents: 4_000 }]));
  expect(codeOf(stalePrice)).toBe("PRICE_CHANGED");
  expect(stalePrice.errors![0]!.extensions).toMatchObject({ productId: product.id, priceCents: 5_000, priceVersion: 1 });

  const updated = await stack.gql(
    `mutation($id: ID!) { updateProductPrice(id: $id, priceCents: 5500) { priceVersion } }`,
    { id: product.id },
    { token: admin },
  );
  expect(updated.data!.updateProductPrice.priceVersion).toBe(2);
  const staleVersion = await place(user, orderInput([{ productId: product.id, quantity: 1, priceVersion: 1 }]));
  expect(codeOf(staleVersion)).toBe("PRICE_CHANGED");
  expect(staleVersion.errors![0]!.extensions).toMatchObject({ productId: product.id, priceCents: 5_500, priceVersion: 2 });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 10, reserved: 0, sold: 0 });
  expect(await ordersOfProduct(product.id)).toHaveLength(0);

  const fresh = await place(user, orderInput([{ productId: product.id, quantity: 2, expectedPriceCents: 5_500, priceVersion: 2 }]));
  expect(fresh.data!.placeOrder).toMatchObject({ totalCents: 11_000, items: [{ unitPriceCents: 5_500, quantity: 2 }] });
});

test("a retry after the price changed still returns the order placed at the old price", async () => {
  const product = await createProduct(stack.gql, admin, 10, { priceCents: 700 });
  const user = await token(`u-${randomUUID()}`);
  const input = orderInput([line(product, 1)]);
  const first = await place(user, input);
  await stack.gql(`mutation($id: ID!) { updateProductPrice(id: $id, priceCents: 900) { id } }`, { id: product.id }, { token: admin });
  const retry = await place(user, input);
  expect(retry.data!.placeOrder).toEqual(first.data!.placeOrder);
});

test("refused requests: unauthenticated, bad input with its field, unknown product, mixed currencies", async () => {
  const usd = await createProduct(stack.gql, admin, 5);
  const eur = await createProduct(stack.gql, admin, 5, { currency: "EUR" });
  const user = await token(`u-${randomUUID()}`);
  expect(codeOf(await stack.gql(PLACE_ORDER, { input: orderInput([line(usd)]) }))).toBe("UNAUTHENTICATED");
  const zero = await place(user, orderInput([{ ...line(usd), quantity: 0 }]));
  expect(zero.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.items.0.quantity" });
  const empty = await place(user, { idempotencyKey: randomUUID(), items: [] });
  expect(empty.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.items" });
  const unknown = await place(user, orderInput([{ productId: randomUUID(), quantity: 1 }]));
  expect(codeOf(unknown)).toBe("NOT_FOUND");
  const mixed = await place(user, {
    idempotencyKey: randomUUID(),
    items: [
      { productId: usd.id, quantity: 1 },
      { productId: eur.id, quantity: 1 },
    ],
  });
  expect(mixed.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.items" });
  for (const p of [usd, eur]) expect(await pgStock(stack.prisma, p.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
});

test("counters Redis lost are reloaded from PostgreSQL before reserving", async () => {
  const product = await createProduct(stack.gql, admin, 8);
  const user = await token(`u-${randomUUID()}`);
  await place(user, orderInput([line(product, 3)]));
  await stack.redis.del(stockKey(product.id));
  const res = await place(user, orderInput([line(product, 2)]));
  expect(res.data!.placeOrder.status).toBe("RESERVED");
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 3, reserved: 5, sold: 0 });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 3, reserved: 5, sold: 0 });
});

test("when the PostgreSQL write fails the Redis reservation is given back and the key can be used again", async () => {
  const product = await createProduct(stack.gql, admin, 5);
  const userId = `u-${randomUUID()}`;
  const user = await token(userId);
  const input = orderInput([line(product, 2)]);
  // Redis has counters for a product whose stock row PostgreSQL no longer has: the order's statement writes nothing.
  await stack.redis.hset(stockKey(product.id), { available: 5, reserved: 0, sold: 0 });
  await stack.prisma.stock.delete({ where: { productId: product.id } });
  const failed = await place(user, input);
  expect(codeOf(failed)).toBe("INTERNAL_SERVER_ERROR");
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
  expect(await stack.redis.exists(reservationKey(orderIdFor(userId, input.idempotencyKey)))).toBe(0);
  expect(await stack.order.domain.reservations.heldUnits(userId)).toBe(0); // nor does it count against the buyer's cap
  await stack.prisma.stock.create({ data: { productId: product.id, available: 5 } });
  const retried = await place(user, input);
  expect(retried.data!.placeOrder.status).toBe("RESERVED");
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 3, reserved: 2, sold: 0 });
  expect(await stack.order.domain.reservations.heldUnits(userId)).toBe(2);
});

test("a retry writes the order on the reservation its killed request left behind, holding the units once", async () => {
  const product = await createProduct(stack.gql, admin, 10);
  const userId = `u-${randomUUID()}`;
  const input = orderInput([line(product, 3)]);
  const orderId = orderIdFor(userId, input.idempotencyKey);
  const { reservations, counters } = stack.order.domain;
  await counters.read([product.id]);
  // What a request killed between its reservation and its write leaves: a reservation made 31 s ago, no order.
  const expiresAt = Date.now() + config.RESERVATION_TTL_SECONDS * 1000 - 31_000;
  expect(
    await reservations.reserve(
      orderId,
      expiresAt,
      requestHash([line(product, 3)] as Parameters<typeof requestHash>[0]),
      [{ productId: product.id, quantity: 3 }],
      userId,
    ),
  ).toEqual({
    ok: true,
  });
  const retried = await place(await token(userId), input);
  expect(retried.errors).toBeUndefined();
  expect(retried.data!.placeOrder).toMatchObject({ id: orderId, status: "RESERVED", reservedUntil: new Date(expiresAt).toISOString() });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 7, reserved: 3, sold: 0 });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 7, reserved: 3, sold: 0 });
  expect(await reservations.heldUnits(userId)).toBe(3);
  expect(await reservations.inspect(orderId)).toMatchObject({ state: "reserved" });
});
