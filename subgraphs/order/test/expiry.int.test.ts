import { randomUUID } from "node:crypto";
import { adminToken, logger, startStack, token, type Stack, codeOf } from "../../../test/harness.ts";
import { createSweeper } from "../src/sweeper.ts";
import { applyTransition, Transition, TX_OPTIONS } from "../src/transitions.ts";
import { reservationKey } from "../../../common/orders/reservation-keys.ts";
import { CANCEL_ORDER, createProduct, line, orderInput, PAY_ORDER, PLACE_ORDER } from "../../../test/orders.ts";
import { foldedStock, pgStock, redisStock } from "../../../test/stock.ts";

// Expiry with an injected clock: no test waits for a reservation to run out.
const TTL_SECONDS = 60;
let offsetMs = 0;
const now = () => Date.now() + offsetMs;
let stack: Stack;
let admin: string;

beforeAll(async () => {
  stack = await startStack({ order: { reservationTtlSeconds: TTL_SECONDS, orphanGraceSeconds: 5, now } });
  admin = await adminToken();
});
afterAll(() => stack.close());
beforeEach(() => {
  offsetMs = 0;
});

const domain = () => stack.order.domain;
const place = async (user: string, input: unknown) => {
  const res = await stack.gql(PLACE_ORDER, { input }, { token: user });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.placeOrder as { id: string; reservedUntil: string };
};
const statuses = async (ids: string[]) =>
  (await stack.prisma.order.findMany({ where: { id: { in: ids } }, select: { status: true } })).map((o) => o.status);
const expiredEvents = (ids: string[]) =>
  stack.prisma.outboxEvent.count({
    where: { key: { in: ids }, type: "OrderStatusChanged", payload: { path: ["data", "order", "status"], equals: "EXPIRED" } },
  });

test("an unpaid order expires at reservedUntil and its stock returns exactly once, with two sweepers racing", async () => {
  const product = await createProduct(stack.gql, admin, 10);
  const user = await token(`u-${randomUUID()}`);
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await place(user, orderInput([line(product, 2)]))).id);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 4, reserved: 6, sold: 0 });

  await domain().sweeper.sweepOnce();
  expect(await statuses(ids)).toEqual(["RESERVED", "RESERVED", "RESERVED"]);

  offsetMs = TTL_SECONDS * 1000 + 1;
  const second = createSweeper({ ...domain(), logger, orphanGraceMs: 5_000 });
  await Promise.all([domain().sweeper.sweepOnce(), second.sweepOnce(), domain().sweeper.sweepOnce(), second.sweepOnce()]);

  expect(await statuses(ids)).toEqual(["EXPIRED", "EXPIRED", "EXPIRED"]);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 10, reserved: 0, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 10, reserved: 0, sold: 0 });
  expect(await expiredEvents(ids)).toBe(3);
  expect(await foldedStock(stack.prisma, product.id)).toEqual({ available: 10, reserved: 0, sold: 0 });

  // running everything again changes nothing
  await Promise.all([domain().sweeper.sweepOnce(), second.sweepOnce()]);
  for (const id of ids) expect(await domain().reservations.release(id)).toEqual({ ok: false, reason: "already", state: "released" });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 10, reserved: 0, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 10, reserved: 0, sold: 0 });
  expect(await expiredEvents(ids)).toBe(3);
});

test("a crash between the PostgreSQL commit and the Redis release is repaired by the next sweep, without a second return", async () => {
  const product = await createProduct(stack.gql, admin, 5);
  const order = await place(await token(`u-${randomUUID()}`), orderInput([line(product, 3)]));
  offsetMs = TTL_SECONDS * 1000 + 1;
  // what a sweeper does before it dies: the transition commits, the Redis script never runs
  await stack.prisma.$transaction((tx) => applyTransition(tx, order.id, Transition.expire(new Date(now()))), TX_OPTIONS);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 2, reserved: 3, sold: 0 });

  await domain().sweeper.sweepOnce();
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 5, reserved: 0, sold: 0 });
  expect(await stack.redis.zscore(domain().reservations.index, order.id)).toBeNull();
});

test("a reservation whose order never reached PostgreSQL is released only after the grace period, and its key is free again", async () => {
  const product = await createProduct(stack.gql, admin, 4);
  await domain().counters.read([product.id]);
  const orderId = randomUUID();
  const expiresAt = now() + 1_000;
  expect(await domain().reservations.reserve(orderId, expiresAt, "h", [{ productId: product.id, quantity: 4 }], "orphan-buyer")).toEqual({
    ok: true,
  });

  offsetMs = 1_000 + 4_000; // expired, but within the 5 s grace: a placeOrder could still be committing
  await domain().sweeper.sweepOnce();
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 0, reserved: 4, sold: 0 });
  expect(await domain().reservations.heldUnits("orphan-buyer")).toBe(4);

  offsetMs = 1_000 + 5_001;
  await domain().sweeper.sweepOnce();
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 4, reserved: 0, sold: 0 });
  expect(await stack.redis.exists(reservationKey(orderId))).toBe(0);
  expect(await domain().reservations.heldUnits("orphan-buyer")).toBe(0);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 4, reserved: 0, sold: 0 });
});

test("an order whose Redis reservation was lost still expires (database pass) and PostgreSQL gets its stock back", async () => {
  const product = await createProduct(stack.gql, admin, 6);
  const order = await place(await token(`u-${randomUUID()}`), orderInput([line(product, 2)]));
  await stack.redis.del(reservationKey(order.id));
  await stack.redis.zrem(domain().reservations.index, order.id);
  offsetMs = TTL_SECONDS * 1000 + 5_001;
  await domain().sweeper.sweepOnce();
  expect(await statuses([order.id])).toEqual(["EXPIRED"]);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 6, reserved: 0, sold: 0 });
});

test("paying or cancelling after reservedUntil is INVALID_STATE EXPIRED, and the stock is back at once", async () => {
  const product = await createProduct(stack.gql, admin, 3);
  const user = await token(`u-${randomUUID()}`);
  const a = await place(user, orderInput([line(product, 1)]));
  const b = await place(user, orderInput([line(product, 1)]));
  offsetMs = TTL_SECONDS * 1000 + 1;
  const pay = await stack.gql(PAY_ORDER, { id: a.id, token: "tok_visa" }, { token: user });
  expect(pay.errors![0]!.extensions).toMatchObject({ code: "INVALID_STATE", status: "EXPIRED" });
  const cancel = await stack.gql(CANCEL_ORDER, { id: b.id }, { token: user });
  expect(cancel.errors![0]!.extensions).toMatchObject({ code: "INVALID_STATE", status: "EXPIRED" });
  expect(await statuses([a.id, b.id])).toEqual(["EXPIRED", "EXPIRED"]);
  expect(await stack.prisma.payment.count({ where: { orderId: a.id } })).toBe(0);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 3, reserved: 0, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 3, reserved: 0, sold: 0 });
  expect(codeOf(await stack.gql(CANCEL_ORDER, { id: b.id }, { token: user }))).toBe("INVALID_STATE");
});
