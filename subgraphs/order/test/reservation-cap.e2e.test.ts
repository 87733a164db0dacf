import { randomUUID } from "node:crypto";
import { adminToken, codeOf, startStack, token, type Stack } from "../../../test/harness.ts";
import { reservationKey } from "../../../common/orders/reservation-keys.ts";
import { orderIdFor } from "../../../common/orders/order-id.ts";
import { CANCEL_ORDER, createProduct, line, orderInput, PAY_ORDER, PLACE_ORDER, type LineInput } from "../../../test/orders.ts";
import { pgStock, redisStock } from "../../../test/stock.ts";
import { orderUntil } from "./support.ts";
import { eventually } from "../../../test/eventually.ts";

// The cap on units one user holds in RESERVED orders (RESERVATION_MAX_UNITS_PER_USER) through the router, with the
// saga's workers running and an injected clock for expiry.
const CAP = 50;
const TTL_SECONDS = 60;
let offsetMs = 0;
const now = () => Date.now() + offsetMs;
let stack: Stack;
let admin: string;

beforeAll(async () => {
  stack = await startStack({
    relay: true,
    order: { workers: true, maxUnitsPerUser: CAP, reservationTtlSeconds: TTL_SECONDS, orphanGraceSeconds: 5, now },
  });
  admin = await adminToken();
});
afterAll(() => stack.close());
beforeEach(() => {
  offsetMs = 0;
});

/** A buyer: the id the cap counts by, and the token that carries it. */
async function buyer() {
  const id = `u-${randomUUID()}`;
  return { id, token: await token(id) };
}
type Buyer = Awaited<ReturnType<typeof buyer>>;

const place = (user: Buyer, items: LineInput[], key?: string) => stack.gql(PLACE_ORDER, { input: orderInput(items, key) }, { token: user.token });
async function placed(user: Buyer, items: LineInput[], key?: string) {
  const res = await place(user, items, key);
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.placeOrder as { id: string; status: string };
}
const held = (user: Buyer) => stack.order.domain.reservations.heldUnits(user.id);
const heldBecomes = (user: Buyer, units: number, what: string) =>
  eventually(async () => ((await held(user)) === units ? true : undefined), 10_000, what);
const ordersOf = (user: Buyer) => stack.prisma.order.findMany({ where: { userId: user.id }, include: { items: true } });

test("an order over the cap is PURCHASE_LIMIT_EXCEEDED with limit and alreadyReserved, and reserves and writes nothing", async () => {
  const product = await createProduct(stack.gql, admin, 100);
  const user = await buyer();
  await placed(user, [line(product, 30)]);
  const fifteen = await placed(user, [line(product, 15)]);

  const key = randomUUID();
  const refused = await place(user, [line(product, 6)], key);
  expect(refused.data).toBeNull();
  expect(refused.errors).toHaveLength(1);
  expect(refused.errors![0]!.extensions).toMatchObject({ code: "PURCHASE_LIMIT_EXCEEDED", limit: CAP, alreadyReserved: 45 });
  const refusedId = orderIdFor(user.id, key);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 55, reserved: 45, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 55, reserved: 45, sold: 0 });
  expect(await stack.prisma.order.findUnique({ where: { id: refusedId } })).toBeNull();
  expect(await stack.prisma.outboxEvent.count({ where: { key: refusedId } })).toBe(0);
  expect(await stack.redis.exists(reservationKey(refusedId))).toBe(0);
  expect(await held(user)).toBe(45);

  // One order bigger than the cap by itself, from a user holding nothing.
  const newcomer = await buyer();
  const tooBig = await place(newcomer, [line(product, CAP + 1)]);
  expect(tooBig.errors![0]!.extensions).toMatchObject({ code: "PURCHASE_LIMIT_EXCEEDED", limit: CAP, alreadyReserved: 0 });
  expect(await ordersOf(newcomer)).toEqual([]);

  // The refusal was not remembered: once units are free, the same key places its order.
  expect((await stack.gql(CANCEL_ORDER, { id: fifteen.id }, { token: user.token })).errors).toBeUndefined();
  expect(await held(user)).toBe(30);
  const retried = await placed(user, [line(product, 6)], key);
  expect(retried).toMatchObject({ id: refusedId, status: "RESERVED" });
  expect(await placed(user, [line(product, 14)])).toMatchObject({ status: "RESERVED" }); // exactly at the cap
  expect(await held(user)).toBe(CAP);
  expect(codeOf(await place(user, [line(product, 1)]))).toBe("PURCHASE_LIMIT_EXCEEDED");
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 50, reserved: 50, sold: 0 });
});

test("20 concurrent orders of 5 units by one user with a cap of 50: exactly 10 succeed and the stock moves by exactly 50", async () => {
  const product = await createProduct(stack.gql, admin, 200);
  const user = await buyer();
  const results = await Promise.all(Array.from({ length: 20 }, () => place(user, [line(product, 5)])));

  const reserved = results.filter((r) => r.data?.placeOrder?.status === "RESERVED");
  const refused = results.filter((r) => codeOf(r) === "PURCHASE_LIMIT_EXCEEDED");
  expect(reserved).toHaveLength(10);
  expect(refused).toHaveLength(10);
  for (const r of refused) expect(r.errors![0]!.extensions).toMatchObject({ limit: CAP, alreadyReserved: expect.any(Number) });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 150, reserved: 50, sold: 0 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 150, reserved: 50, sold: 0 });
  const orders = await ordersOf(user);
  expect(orders).toHaveLength(10);
  expect(orders.every((o) => o.status === "RESERVED" && o.items[0]!.quantity === 5)).toBe(true);
  expect(await held(user)).toBe(CAP);
});

test("a multi-item order counts the units of all its items", async () => {
  const [a, b] = [await createProduct(stack.gql, admin, 100), await createProduct(stack.gql, admin, 100)];
  const user = await buyer();
  await placed(user, [line(a, 20), line(b, 20)]);
  expect(await held(user)).toBe(40);
  const over = await place(user, [line(a, 5), line(b, 6)]);
  expect(over.errors![0]!.extensions).toMatchObject({ code: "PURCHASE_LIMIT_EXCEEDED", limit: CAP, alreadyReserved: 40 });
  expect(await pgStock(stack.prisma, a.id)).toEqual({ available: 80, reserved: 20, sold: 0 });
  expect(await pgStock(stack.prisma, b.id)).toEqual({ available: 80, reserved: 20, sold: 0 });
  expect(await placed(user, [line(a, 5), line(b, 5)])).toMatchObject({ status: "RESERVED" });
  expect(await held(user)).toBe(CAP);
});

test("a retried idempotency key of a placed order does not count twice, and is answered even at the cap", async () => {
  const product = await createProduct(stack.gql, admin, 100);
  const user = await buyer();
  const key = randomUUID();
  const first = await placed(user, [line(product, 30)], key);
  const retries = await Promise.all(Array.from({ length: 5 }, () => placed(user, [line(product, 30)], key)));
  expect(retries.map((r) => r.id)).toEqual(Array(5).fill(first.id));
  expect(await held(user)).toBe(30);
  await placed(user, [line(product, 20)]);
  expect(await held(user)).toBe(CAP);
  expect(await placed(user, [line(product, 30)], key)).toMatchObject({ id: first.id, status: "RESERVED" });
  expect(await held(user)).toBe(CAP);
  expect(await ordersOf(user)).toHaveLength(2);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 50, reserved: 50, sold: 0 });
});

test("expiry frees the units once, however many sweeps run", async () => {
  const product = await createProduct(stack.gql, admin, 100);
  const user = await buyer();
  const order = await placed(user, [line(product, CAP)]);
  expect(codeOf(await place(user, [line(product, 1)]))).toBe("PURCHASE_LIMIT_EXCEEDED");

  offsetMs = TTL_SECONDS * 1000 + 1;
  await Promise.all([stack.order.domain.sweeper.sweepOnce(), stack.order.domain.sweeper.sweepOnce()]);
  await stack.order.domain.sweeper.sweepOnce();
  expect((await stack.prisma.order.findUniqueOrThrow({ where: { id: order.id } })).status).toBe("EXPIRED");
  expect(await held(user)).toBe(0);
  expect(await placed(user, [line(product, CAP)])).toMatchObject({ status: "RESERVED" });
  expect(await held(user)).toBe(CAP);
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 50, reserved: 50, sold: 0 });
});

test("a paid order stops counting (once, through PAID and CONFIRMED); a declined payment frees the units too", async () => {
  const product = await createProduct(stack.gql, admin, 200);
  const user = await buyer();
  const paid = await placed(user, [line(product, 40)]);
  expect((await stack.gql(PAY_ORDER, { id: paid.id, token: "tok_visa" }, { token: user.token })).errors).toBeUndefined();
  await orderUntil(stack, paid.id, user.token, "CONFIRMED");
  await heldBecomes(user, 0, "the paid order's units to stop counting"); // Redis follows the commit

  const next = await placed(user, [line(product, CAP)]);
  expect(await held(user)).toBe(CAP); // the confirmation did not take the paid order's units off a second time
  expect((await stack.gql(PAY_ORDER, { id: next.id, token: "tok_declined" }, { token: user.token })).errors).toBeUndefined();
  await orderUntil(stack, next.id, user.token, "CANCELLED");
  await heldBecomes(user, 0, "the declined order's units to be released");
  expect(await placed(user, [line(product, CAP)])).toMatchObject({ status: "RESERVED" });
  expect(await pgStock(stack.prisma, product.id)).toEqual({ available: 110, reserved: 50, sold: 40 });
  expect(await redisStock(stack.redis, product.id)).toEqual({ available: 110, reserved: 50, sold: 40 });
});
