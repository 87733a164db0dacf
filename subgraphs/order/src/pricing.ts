import type { PrismaClient } from "../../../common/prisma.ts";
import { appError, badInput, ErrorCode } from "../../../common/errors.ts";
import type { OrderLineInput } from "./input.ts";

export interface PricedLine {
  productId: string;
  quantity: number;
  unitPriceCents: number;
}

const MAX_TOTAL_CENTS = 2_147_483_647; // the orders.total_cents column is a 32-bit integer

/**
 * Prices the lines from the catalogue in PostgreSQL, never from the client: the client's expectedPriceCents
 * and priceVersion only detect that it showed the buyer a stale price (PRICE_CHANGED, nothing reserved).
 * Lines keep their (product id) order.
 */
export async function priceLines(prisma: PrismaClient, items: OrderLineInput[]): Promise<{ lines: PricedLine[]; totalCents: number; currency: string }> {
  const products = await prisma.product.findMany({
    where: { id: { in: items.map((i) => i.productId) } },
    select: { id: true, priceCents: true, priceVersion: true, currency: true, active: true },
  });
  const byId = new Map(products.map((p) => [p.id, p]));
  const currencies = new Set<string>();
  let totalCents = 0;
  const lines = items.map((item, i) => {
    const product = byId.get(item.productId);
    if (!product || !product.active) {
      throw appError(ErrorCode.NOT_FOUND, `Product ${item.productId} does not exist.`, { productId: item.productId, field: `input.items.${i}.productId` });
    }
    const staleVersion = item.priceVersion !== null && item.priceVersion !== product.priceVersion;
    const stalePrice = item.expectedPriceCents !== null && item.expectedPriceCents !== product.priceCents;
    if (staleVersion || stalePrice) {
      throw appError(ErrorCode.PRICE_CHANGED, `The price of product ${item.productId} has changed; nothing was reserved.`, {
        productId: item.productId,
        priceCents: product.priceCents,
        priceVersion: product.priceVersion,
      });
    }
    currencies.add(product.currency.trim());
    totalCents += product.priceCents * item.quantity;
    return { productId: item.productId, quantity: item.quantity, unitPriceCents: product.priceCents };
  });
  if (currencies.size > 1) throw badInput("input.items", `input.items: products are priced in ${[...currencies].join(" and ")}; one order takes one currency`);
  if (totalCents > MAX_TOTAL_CENTS) throw badInput("input.items", "input.items: the order total is too large");
  return { lines, totalCents, currency: [...currencies][0]! };
}
