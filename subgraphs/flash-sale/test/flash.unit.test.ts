import { expect, test } from "@jest/globals";
import { saleState } from "../src/state.ts";
import { parseCreateInput, parsePurchaseInput, purchaseHash } from "../src/input.ts";
import { createIpLimit } from "../src/ip-limit.ts";
import { decodePointer, encodePointer, itemKeys } from "../../../common/orders/flash-keys.ts";

const T = Date.parse("2026-11-23T09:00:00Z");
const window = { startsAt: new Date(T), endsAt: new Date(T + 60_000), endedAt: null };
const pid = "7b6c1f0e-4a53-4d2b-9c8e-0f3a61d2b9a4";
const pid2 = "0b6c1f0e-4a53-4d2b-9c8e-0f3a61d2b9a4";

test("a sale is SCHEDULED before startsAt, ACTIVE from it, ENDED at endsAt or once ended early", () => {
  expect(saleState(window, T - 1)).toBe("SCHEDULED");
  expect(saleState(window, T)).toBe("ACTIVE");
  expect(saleState(window, T + 59_999)).toBe("ACTIVE");
  expect(saleState(window, T + 60_000)).toBe("ENDED");
  expect(saleState({ ...window, endedAt: new Date(T + 10) }, T + 20)).toBe("ENDED");
  expect(saleState({ ...window, endedAt: new Date(T - 10) }, T - 5)).toBe("ENDED");
});

const valid = {
  name: "Drop",
  startsAt: new Date(T),
  endsAt: new Date(T + 60_000),
  perUserLimit: 2,
  items: [{ productId: pid, salePriceCents: 100, quantity: 5 }],
};
const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as { extensions: { code: string; field: string } }).extensions;
  }
  throw new Error("expected BAD_USER_INPUT");
};

test("createFlashSale input: every rule names its field", () => {
  expect(parseCreateInput(valid, T - 1).items).toHaveLength(1);
  expect(fieldOf(() => parseCreateInput({ ...valid, name: " " }, T))).toEqual({ code: "BAD_USER_INPUT", field: "input.name" });
  expect(fieldOf(() => parseCreateInput({ ...valid, endsAt: new Date(T) }, T - 5))).toEqual({ code: "BAD_USER_INPUT", field: "input.endsAt" });
  expect(fieldOf(() => parseCreateInput(valid, T + 60_000))).toEqual({ code: "BAD_USER_INPUT", field: "input.endsAt" });
  expect(fieldOf(() => parseCreateInput({ ...valid, perUserLimit: 0 }, T))).toEqual({ code: "BAD_USER_INPUT", field: "input.perUserLimit" });
  expect(fieldOf(() => parseCreateInput({ ...valid, items: [] }, T))).toEqual({ code: "BAD_USER_INPUT", field: "input.items" });
  const many = Array.from({ length: 21 }, (_, i) => ({ ...valid.items[0]!, productId: pid.replace(/..$/, String(10 + i)) }));
  expect(fieldOf(() => parseCreateInput({ ...valid, items: many }, T))).toEqual({ code: "BAD_USER_INPUT", field: "input.items" });
  expect(fieldOf(() => parseCreateInput({ ...valid, items: [valid.items[0], valid.items[0]] }, T))).toEqual({
    code: "BAD_USER_INPUT",
    field: "input.items.1.productId",
  });
  expect(fieldOf(() => parseCreateInput({ ...valid, items: [{ ...valid.items[0], salePriceCents: -1 }] }, T))).toEqual({
    code: "BAD_USER_INPUT",
    field: "input.items.0.salePriceCents",
  });
  expect(fieldOf(() => parseCreateInput({ ...valid, items: [{ ...valid.items[0], quantity: 0 }] }, T))).toEqual({
    code: "BAD_USER_INPUT",
    field: "input.items.0.quantity",
  });
  expect(parseCreateInput({ ...valid, items: [valid.items[0], { ...valid.items[0], productId: pid2 }] }, T).items.map((i) => i.productId)).toEqual([
    pid2,
    pid,
  ]);
});

test("flashPurchase input and its hash: the same purchase hashes the same, any change differs", () => {
  const input = parsePurchaseInput({ flashSaleId: pid, productId: pid2, quantity: 1, idempotencyKey: "k-1" });
  expect(fieldOf(() => parsePurchaseInput({ ...input, quantity: 0 }))).toEqual({ code: "BAD_USER_INPUT", field: "input.quantity" });
  expect(fieldOf(() => parsePurchaseInput({ ...input, idempotencyKey: "has space" }))).toEqual({
    code: "BAD_USER_INPUT",
    field: "input.idempotencyKey",
  });
  expect(purchaseHash(input)).toBe(purchaseHash({ ...input, idempotencyKey: "other" }));
  expect(purchaseHash(input)).not.toBe(purchaseHash({ ...input, quantity: 2 }));
  expect(purchaseHash(input)).not.toBe(purchaseHash({ ...input, productId: pid }));
});

test("per-IP limit: `rate` per second per address, refusals take nothing and say when to retry", () => {
  let now = 1_000_000;
  const take = createIpLimit({ rate: 10, burst: 0, now: () => now });
  const allowed = Array.from({ length: 15 }, () => take("1.1.1.1")).filter((wait) => wait === 0).length;
  expect(allowed).toBe(10);
  expect(take("1.1.1.1")).toBe(100);
  expect(take("2.2.2.2")).toBe(0);
  now += 100;
  expect(take("1.1.1.1")).toBe(0);
  expect(take("1.1.1.1")).toBeGreaterThan(0);
});

test("every key of one sale item shares one hash tag", () => {
  const k = itemKeys(pid, pid2);
  const tags = [k.item, k.users, k.expiry, k.reservation("o1")].map((key) => /\{[^}]+\}/.exec(key)![0]);
  expect(new Set(tags)).toEqual(new Set([`{fs:${pid}:${pid2}}`]));
  expect(decodePointer(encodePointer({ saleId: pid, productId: pid2, requestHash: "h" }))).toEqual({
    saleId: pid,
    productId: pid2,
    requestHash: "h",
  });
});
