import { createHash } from "node:crypto";
import { z } from "zod";
import { parseInput, uuid } from "../../../common/validation.ts";
import { badInput } from "../../../common/errors.ts";

export const MAX_ITEMS = 50;
export const MAX_QUANTITY = 100;

const item = z.object({
  productId: uuid,
  quantity: z.number().int().min(1, "must be at least 1").max(MAX_QUANTITY, `must be at most ${MAX_QUANTITY}`),
  expectedPriceCents: z.number().int().min(0, "must not be negative").nullish(),
  priceVersion: z.number().int().min(1, "must be at least 1").nullish(),
});

const placeOrderInput = z.object({
  // Clients send a UUID or any opaque string; printable ASCII keeps keys loggable and comparable.
  idempotencyKey: z
    .string()
    .min(1, "must not be empty")
    .max(255, "must be at most 255 characters")
    .regex(/^[\x21-\x7e]+$/, "use printable ASCII without spaces"),
  items: z.array(item).min(1, "must contain at least one item").max(MAX_ITEMS, `must contain at most ${MAX_ITEMS} items`),
});

export interface OrderLineInput {
  productId: string;
  quantity: number;
  expectedPriceCents: number | null;
  priceVersion: number | null;
}

export interface PlaceOrderRequest {
  idempotencyKey: string;
  /** Sorted by product id: the canonical order used for the request hash, the Lua keys and PostgreSQL locks. */
  items: OrderLineInput[];
}

/** Validates placeOrder's input; the first problem is BAD_USER_INPUT naming its field (e.g. `input.items.0.quantity`). */
export function parsePlaceOrderInput(raw: unknown): PlaceOrderRequest {
  const input = parseInput(placeOrderInput, raw, "input");
  const seen = new Set<string>();
  input.items.forEach((line, i) => {
    const id = line.productId.toLowerCase();
    if (seen.has(id))
      throw badInput(`input.items.${i}.productId`, `input.items.${i}.productId: the product is listed twice; use one line with the total quantity`);
    seen.add(id);
  });
  const items = input.items
    .map((line) => ({
      productId: line.productId.toLowerCase(),
      quantity: line.quantity,
      expectedPriceCents: line.expectedPriceCents ?? null,
      priceVersion: line.priceVersion ?? null,
    }))
    .sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
  return { idempotencyKey: input.idempotencyKey, items };
}

/** sha256 of the canonical JSON of the items (sorted, fixed key order): the same request always hashes the same. */
export function requestHash(items: OrderLineInput[]): string {
  const canonical = items.map((i) => [i.productId, i.quantity, i.expectedPriceCents, i.priceVersion]);
  return createHash("sha256").update(JSON.stringify(canonical)).digest("hex");
}
