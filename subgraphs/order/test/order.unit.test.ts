import { GraphQLError } from "graphql";
import { parsePlaceOrderInput, requestHash } from "../src/input.ts";
import { orderIdFor } from "../../../common/orders/order-id.ts";
import { signWebhook, verifyWebhookSignature } from "../src/webhook.ts";
import { composeOrderMail } from "../src/notifications.ts";
import { createDevPaymentProvider } from "../src/dev-payment-provider.ts";
import { expiryIndexFor } from "../../../common/orders/reservation-keys.ts";
import { priceLines } from "../src/pricing.ts";

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";

function errorOf(fn: () => unknown): { code: unknown; field: unknown } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GraphQLError);
    return { code: (error as GraphQLError).extensions.code, field: (error as GraphQLError).extensions.field };
  }
  throw new Error("expected an error");
}

describe("placeOrder input", () => {
  const valid = {
    idempotencyKey: "k-1",
    items: [
      { productId: B, quantity: 2 },
      { productId: A, quantity: 1, expectedPriceCents: 500, priceVersion: 3 },
    ],
  };

  it("sorts lines by product id and fills absent price expectations with null", () => {
    expect(parsePlaceOrderInput(valid).items).toEqual([
      { productId: A, quantity: 1, expectedPriceCents: 500, priceVersion: 3 },
      { productId: B, quantity: 2, expectedPriceCents: null, priceVersion: null },
    ]);
  });

  const line = (quantity: unknown, productId: string = A) => ({ ...valid, items: [{ productId, quantity }] });
  const many = Array.from({ length: 51 }, (_, i) => ({ productId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, quantity: 1 }));
  it.each([
    ["no items", { ...valid, items: [] }, "input.items"],
    ["51 items", { ...valid, items: many }, "input.items"],
    ["quantity 0", line(0), "input.items.0.quantity"],
    ["quantity 101", line(101), "input.items.0.quantity"],
    ["a fractional quantity", line(1.5), "input.items.0.quantity"],
    ["a malformed product id", line(1, "not-a-uuid"), "input.items.0.productId"],
    [
      "a product listed twice",
      {
        ...valid,
        items: [
          { productId: A, quantity: 1 },
          { productId: A.toUpperCase(), quantity: 2 },
        ],
      },
      "input.items.1.productId",
    ],
    ["an empty key", { ...valid, idempotencyKey: "" }, "input.idempotencyKey"],
    ["a key with a space", { ...valid, idempotencyKey: "has space" }, "input.idempotencyKey"],
    ["a 256-character key", { ...valid, idempotencyKey: "x".repeat(256) }, "input.idempotencyKey"],
    ["a negative expected price", { ...valid, items: [{ productId: A, quantity: 1, expectedPriceCents: -1 }] }, "input.items.0.expectedPriceCents"],
  ])("refuses %s with BAD_USER_INPUT naming %s", (_label, input, field) => {
    expect(errorOf(() => parsePlaceOrderInput(input))).toEqual({ code: "BAD_USER_INPUT", field });
  });

  it("hashes the same request the same way whatever the line order, and any change differently", () => {
    const h = requestHash(parsePlaceOrderInput(valid).items);
    const reordered = { ...valid, items: [...valid.items].reverse() };
    expect(requestHash(parsePlaceOrderInput(reordered).items)).toBe(h);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    const changed = { ...valid, items: [{ productId: B, quantity: 3 }, valid.items[1]!] };
    expect(requestHash(parsePlaceOrderInput(changed).items)).not.toBe(h);
    const otherPrice = { ...valid, items: [valid.items[0]!, { ...valid.items[1]!, priceVersion: 4 }] };
    expect(requestHash(parsePlaceOrderInput(otherPrice).items)).not.toBe(h);
  });
});

describe("order ids", () => {
  it("are the same for the same user and key, and differ when either differs", () => {
    expect(orderIdFor("alice", "k")).toBe(orderIdFor("alice", "k"));
    expect(orderIdFor("alice", "k")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(orderIdFor("alice", "k")).not.toBe(orderIdFor("bob", "k"));
    expect(orderIdFor("alice", "k")).not.toBe(orderIdFor("alice", "k2"));
    expect(orderIdFor("al", "ice")).not.toBe(orderIdFor("a", "lice"));
  });
});

describe("webhook signatures", () => {
  const secret = "a-webhook-secret-for-tests";
  const body = Buffer.from('{"paymentId":"x","status":"succeeded"}');

  it("accepts the HMAC of the exact body, in either hex case", () => {
    const signature = signWebhook(secret, body);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(secret, body, signature)).toBe(true);
    expect(verifyWebhookSignature(secret, body, signature.toUpperCase().replace("SHA256", "sha256"))).toBe(true);
  });

  it("refuses another body, another secret, a missing or malformed header", () => {
    const signature = signWebhook(secret, body);
    expect(verifyWebhookSignature(secret, Buffer.from(`${body} `), signature)).toBe(false);
    expect(verifyWebhookSignature("another-secret-entirely", body, signature)).toBe(false);
    expect(verifyWebhookSignature(secret, body, undefined)).toBe(false);
    expect(verifyWebhookSignature(secret, body, signature.slice(0, -2))).toBe(false);
    expect(verifyWebhookSignature(secret, body, signature.replace("sha256=", "sha1="))).toBe(false);
  });
});

describe("order mail", () => {
  it("says what happened and lists the lines and total", () => {
    const mail = composeOrderMail({
      id: "12345678-aaaa-4bbb-8ccc-000000000000",
      status: "CANCELLED",
      cancelReason: "payment_declined",
      items: [{ productId: A, quantity: 2, unitPriceCents: 1250 }],
      totalCents: 2500,
      currency: "EUR",
      reservedUntil: "2026-11-23T09:15:00.000Z",
    });
    expect(mail.subject).toBe("Order 12345678 cancelled (payment declined)");
    expect(mail.text).toContain(`2 x product ${A} at 12.50 EUR`);
    expect(mail.text).toContain("Total: 25.00 EUR");
  });
});

describe("development payment provider", () => {
  it("declines tok_declined, approves anything else, after the configured latency", async () => {
    const slept: number[] = [];
    const provider = createDevPaymentProvider({ latencyMs: 250, sleep: async (ms) => void slept.push(ms) });
    const request = { paymentId: "p1", orderId: "o1", amountCents: 100, currency: "USD" };
    await expect(provider.charge({ ...request, paymentToken: "tok_declined" })).resolves.toMatchObject({ status: "failed", reason: "card_declined" });
    await expect(provider.charge({ ...request, paymentToken: "tok_visa" })).resolves.toEqual({ status: "succeeded", providerRef: "dev_p1" });
    expect(slept).toEqual([250, 250]);
  });
});

describe("expiry index", () => {
  it("is one per database, inside the {stock} hash tag", () => {
    expect(expiryIndexFor("postgresql://postgres@127.0.0.1:5432/flashgraph")).toBe("{stock}:reservations:expiry:flashgraph");
    expect(expiryIndexFor("postgresql://u:p@db:5432/flashgraph_test?sslmode=disable")).toBe("{stock}:reservations:expiry:flashgraph_test");
  });
});

describe("pricing", () => {
  const prices = new Map([
    [A, { priceCents: 1_250, priceVersion: 3, currency: "EUR", active: true }],
    [B, { priceCents: 99, priceVersion: 1, currency: "EUR", active: true }],
  ]);
  const item = (productId: string, quantity: number, expectedPriceCents: number | null = null, priceVersion: number | null = null) => ({
    productId,
    quantity,
    expectedPriceCents,
    priceVersion,
  });

  it("uses the catalogue's prices, whatever the client expected, when they agree", () => {
    expect(priceLines(prices, [item(A, 2, 1_250, 3), item(B, 5)])).toEqual({
      lines: [
        { productId: A, quantity: 2, unitPriceCents: 1_250 },
        { productId: B, quantity: 5, unitPriceCents: 99 },
      ],
      totalCents: 2 * 1_250 + 5 * 99,
      currency: "EUR",
    });
  });

  it("refuses a stale price or version with the current ones", () => {
    for (const stale of [item(A, 1, 1_000, null), item(A, 1, null, 2)]) {
      try {
        priceLines(prices, [stale]);
        throw new Error("expected PRICE_CHANGED");
      } catch (error) {
        expect((error as GraphQLError).extensions).toEqual({ code: "PRICE_CHANGED", productId: A, priceCents: 1_250, priceVersion: 3 });
      }
    }
  });

  it("refuses unknown or inactive products, mixed currencies and totals beyond 32 bits", () => {
    expect(errorOf(() => priceLines(prices, [item("00000000-0000-4000-8000-0000000000ff", 1)]))).toEqual({
      code: "NOT_FOUND",
      field: "input.items.0.productId",
    });
    const inactive = new Map([[A, { ...prices.get(A)!, active: false }]]);
    expect(errorOf(() => priceLines(inactive, [item(A, 1)])).code).toBe("NOT_FOUND");
    const mixed = new Map([...prices, [B, { ...prices.get(B)!, currency: "USD" }]]);
    expect(errorOf(() => priceLines(mixed, [item(A, 1), item(B, 1)]))).toEqual({ code: "BAD_USER_INPUT", field: "input.items" });
    const dear = new Map([[A, { ...prices.get(A)!, priceCents: 1_000_000_000 }]]);
    expect(errorOf(() => priceLines(dear, [item(A, 3)]))).toEqual({ code: "BAD_USER_INPUT", field: "input.items" });
  });
});
