import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { adminToken, startStack, token, type Stack } from "../../../test/harness.ts";
import { parsePurchaseInput } from "../src/input.ts";
import { itemKeys, orderPointerKey } from "../../../common/orders/flash-keys.ts";
import { orderIdFor } from "../../../common/orders/order-id.ts";
import { createSale, itemTrace, purchaseInput } from "./support.ts";
import { createProduct, line } from "../../../test/orders.ts";

// The flash-sale clock is ours: windows and the token bucket are tested without waiting.
let clock = Date.now();
let stack: Stack;
let admin: string;
const RATE = 5;
beforeAll(async () => {
  stack = await startStack({ flash: { now: () => clock, saleRate: RATE, saleBurst: RATE } });
  admin = await adminToken();
});
afterAll(() => stack.close());

const buy = (user: string, saleId: string, productId: string, quantity = 1, key: string = randomUUID()) =>
  stack.flash.domain.purchase(user, "10.0.0.1", parsePurchaseInput(purchaseInput(saleId, productId, quantity, key)));

async function refusal(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return (error as { extensions: Record<string, unknown> }).extensions;
  }
  throw new Error("expected a refusal");
}

async function newSale(quantity: number, overrides: Record<string, unknown> = {}) {
  const product = await createProduct(stack.gql, admin, quantity + 10);
  clock = Date.now();
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity }], {
    startsAt: new Date(clock - 1_000).toISOString(),
    endsAt: new Date(clock + 3_600_000).toISOString(),
    ...overrides,
  });
  return { saleId: sale.id, productId: product.id };
}

test("the item's token bucket refuses above its rate; a refused request takes no token", async () => {
  const { saleId, productId } = await newSale(100, { perUserLimit: 1 });
  const results = await Promise.allSettled(Array.from({ length: RATE + 3 }, () => buy(`u-${randomUUID()}`, saleId, productId)));
  expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(RATE);
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason.extensions);
  expect(refused).toEqual(Array(3).fill({ code: "RATE_LIMITED", retryAfterMs: 1000 / RATE }));
  // 1/RATE s later exactly one token is back: the 3 refusals did not spend any.
  clock += 1000 / RATE;
  expect((await buy(`u-${randomUUID()}`, saleId, productId)).status).toBe("RESERVED");
  expect(await refusal(buy(`u-${randomUUID()}`, saleId, productId))).toMatchObject({ code: "RATE_LIMITED" });
  // Over one second of steady demand, the bucket lets through RATE purchases.
  clock += 1000;
  let accepted = 0;
  for (let ms = 0; ms < 1000; ms += 20) {
    clock += 20;
    accepted += (await Promise.allSettled([buy(`u-${randomUUID()}`, saleId, productId)])).filter((r) => r.status === "fulfilled").length;
  }
  expect(accepted).toBeGreaterThanOrEqual(RATE);
  expect(accepted).toBeLessThanOrEqual(RATE * 2 + 1);
});

test("SALE_NOT_ACTIVE before startsAt and after endsAt, with the window", async () => {
  const startsAt = new Date(Date.now() + 60_000);
  const endsAt = new Date(Date.now() + 120_000);
  const { saleId, productId } = await newSale(10, { startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString() });
  const window = { code: "SALE_NOT_ACTIVE", startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString() };
  expect(await refusal(buy("early", saleId, productId))).toEqual(window);
  clock = startsAt.getTime();
  expect((await buy("on-time", saleId, productId)).status).toBe("RESERVED");
  clock = endsAt.getTime();
  expect(await refusal(buy("late", saleId, productId))).toEqual(window);
});

test("every refusal leaves no trace: counters, buyer counts, tokens, reservations and the key are unchanged", async () => {
  const { saleId, productId } = await newSale(3, { perUserLimit: 2 });
  await buy("holder", saleId, productId, 2);
  clock += 1000;
  const before = await itemTrace(stack.redis, saleId, productId);
  const key = randomUUID();
  const cases: [Promise<unknown>, string][] = [
    [buy("holder", saleId, productId, 1, key), "PURCHASE_LIMIT_EXCEEDED"],
    [buy("other", saleId, productId, 2, key), "OUT_OF_STOCK"],
  ];
  for (const [attempt, code] of cases) expect(await refusal(attempt)).toMatchObject({ code });
  expect(await refusal(buy("holder", saleId, productId, 1, key))).toEqual({ code: "PURCHASE_LIMIT_EXCEEDED", limit: 2, alreadyPurchased: 2 });
  expect(await refusal(buy("other", saleId, productId, 2))).toEqual({ code: "OUT_OF_STOCK", productId, available: 1 });
  const saved = clock;
  clock += 7_200_000;
  expect(await refusal(buy("other", saleId, productId))).toMatchObject({ code: "SALE_NOT_ACTIVE" });
  clock = saved;
  expect(await itemTrace(stack.redis, saleId, productId)).toEqual(before);
  expect(await stack.redis.exists(orderPointerKey(orderIdFor("holder", key)))).toBe(0);
  // The same key is free for a purchase that can succeed.
  expect((await buy("other", saleId, productId, 1, key)).status).toBe("RESERVED");
});

test("idempotency: the same key and purchase is one order however often and concurrently sent; another purchase is refused", async () => {
  const { saleId, productId } = await newSale(10, { perUserLimit: 5 });
  const other = await newSale(10);
  const key = randomUUID();
  const orders = await Promise.all(Array.from({ length: 4 }, () => buy("idem", saleId, productId, 2, key)));
  expect(new Set(orders.map((o) => o.id)).size).toBe(1);
  expect(orders[0]!.totalCents).toBe(1000);
  const trace = await itemTrace(stack.redis, saleId, productId);
  expect(trace.item.remaining).toBe("8");
  expect(trace.users).toEqual({ idem: "2" });
  expect(await refusal(buy("idem", saleId, productId, 3, key))).toEqual({ code: "IDEMPOTENCY_KEY_REUSED" });
  expect(await refusal(buy("idem", other.saleId, other.productId, 2, key))).toEqual({ code: "IDEMPOTENCY_KEY_REUSED" });
  expect((await itemTrace(stack.redis, other.saleId, other.productId)).item.remaining).toBe("10");
  expect((await buy("idem", saleId, productId, 2, key)).id).toBe(orders[0]!.id);
});

test("a key already used for another item or a regular order is refused, and the script's work is given back, rate token included", async () => {
  const first = await newSale(10);
  const { saleId, productId } = await newSale(10);
  const untouched = await itemTrace(stack.redis, saleId, productId);
  const key = randomUUID();
  const held = await buy("reuser", first.saleId, first.productId, 1, key);
  // The script runs in the same round trip as the claim, so it reserved here before the claim said no.
  expect(await refusal(buy("reuser", saleId, productId, 1, key))).toEqual({ code: "IDEMPOTENCY_KEY_REUSED" });
  const afterReuse = await itemTrace(stack.redis, saleId, productId);
  expect(afterReuse.item.remaining).toBe(untouched.item.remaining);
  expect(afterReuse.item.sold).toBe(untouched.item.sold);
  expect(afterReuse.users).toEqual({});
  expect(afterReuse.expiry).toEqual([]);
  expect(await stack.redis.exists(itemKeys(saleId, productId).reservation(held.id))).toBe(0);
  // The first purchase still owns the key.
  expect(await stack.redis.get(orderPointerKey(held.id))).toContain(first.productId);
  expect((await buy("reuser", first.saleId, first.productId, 1, key)).id).toBe(held.id);

  // A key the buyer used for a regular order (same order id) is the regular order's.
  const product = await createProduct(stack.gql, admin, 5);
  const regularKey = randomUUID();
  const placed = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
    { input: { idempotencyKey: regularKey, items: [line(product)] } },
    { token: await token("reuser") },
  );
  expect(placed.errors).toBeUndefined();
  expect(await refusal(buy("reuser", saleId, productId, 1, regularKey))).toEqual({ code: "IDEMPOTENCY_KEY_REUSED" });
  expect(await stack.redis.get(orderPointerKey(placed.data!.placeOrder.id))).toBeNull();
  expect((await itemTrace(stack.redis, saleId, productId)).item.remaining).toBe(untouched.item.remaining);

  // Neither refusal spent a rate token: the whole burst is still there, on the same clock.
  const burst = await Promise.allSettled(Array.from({ length: RATE + 1 }, () => buy(`u-${randomUUID()}`, saleId, productId)));
  expect(burst.filter((r) => r.status === "fulfilled")).toHaveLength(RATE);
});

test("a burst of parallel purchases from one buyer never exceeds the per-user limit", async () => {
  const { saleId, productId } = await newSale(50, { perUserLimit: 2 });
  const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => buy("greedy", saleId, productId, 1 + (i % 2))));
  const units = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.items[0]!.quantity] : [])).reduce((a, b) => a + b, 0);
  expect(units).toBe(2);
  const codes = new Set(results.flatMap((r) => (r.status === "rejected" ? [r.reason.extensions.code] : [])));
  expect(codes).toEqual(new Set(["PURCHASE_LIMIT_EXCEEDED"]));
  const trace = await itemTrace(stack.redis, saleId, productId);
  expect(trace.users).toEqual({ greedy: "2" });
  expect(trace.item.remaining).toBe("48");
});
