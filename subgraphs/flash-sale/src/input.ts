import { createHash } from "node:crypto";
import { z } from "zod";
import { parseInput, uuid } from "../../../common/validation.ts";
import { badInput } from "../../../common/errors.ts";

export const MAX_ITEMS = 20;
export const MAX_PURCHASE_QUANTITY = 100;

const item = z.object({
  productId: uuid,
  salePriceCents: z.number().int().min(0, "must not be negative"),
  quantity: z.number().int().min(1, "must be at least 1").max(10_000_000, "must be at most 10000000"),
});

const createInput = z.object({
  name: z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters"),
  startsAt: z.date(),
  endsAt: z.date(),
  perUserLimit: z.number().int().min(1, "must be at least 1").max(MAX_PURCHASE_QUANTITY, `must be at most ${MAX_PURCHASE_QUANTITY}`),
  items: z.array(item).min(1, "must contain at least one item").max(MAX_ITEMS, `must contain at most ${MAX_ITEMS} items`),
});

export type CreateFlashSaleInput = z.infer<typeof createInput>;

/** createFlashSale's input; the first problem is BAD_USER_INPUT naming its field. Items come back sorted by product id. */
export function parseCreateInput(raw: unknown, nowMs: number): CreateFlashSaleInput {
  const input = parseInput(createInput, raw, "input");
  if (input.startsAt.getTime() >= input.endsAt.getTime()) throw badInput("input.endsAt", "input.endsAt: must be after startsAt");
  if (input.endsAt.getTime() <= nowMs) throw badInput("input.endsAt", "input.endsAt: must be in the future");
  const seen = new Set<string>();
  input.items.forEach((line, i) => {
    line.productId = line.productId.toLowerCase();
    if (seen.has(line.productId)) throw badInput(`input.items.${i}.productId`, `input.items.${i}.productId: the product is listed twice`);
    seen.add(line.productId);
  });
  input.items.sort((a, b) => (a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0));
  return input;
}

const purchaseInput = z.object({
  flashSaleId: uuid,
  productId: uuid,
  quantity: z.number().int().min(1, "must be at least 1").max(MAX_PURCHASE_QUANTITY, `must be at most ${MAX_PURCHASE_QUANTITY}`),
  // The same rule as placeOrder's keys: printable ASCII keeps them loggable and comparable.
  idempotencyKey: z
    .string()
    .min(1, "must not be empty")
    .max(255, "must be at most 255 characters")
    .regex(/^[\x21-\x7e]+$/, "use printable ASCII without spaces"),
});

export type FlashPurchaseInput = z.infer<typeof purchaseInput>;

export function parsePurchaseInput(raw: unknown): FlashPurchaseInput {
  const input = parseInput(purchaseInput, raw, "input");
  return { ...input, flashSaleId: input.flashSaleId.toLowerCase(), productId: input.productId.toLowerCase() };
}

/** sha256 of the canonical purchase (sale, product, quantity): the same key with another purchase is IDEMPOTENCY_KEY_REUSED. */
export function purchaseHash(input: FlashPurchaseInput): string {
  return createHash("sha256")
    .update(JSON.stringify(["flash", input.flashSaleId, input.productId, input.quantity]))
    .digest("hex");
}
