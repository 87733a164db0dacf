import type { PrismaClient } from "../../../common/prisma.ts";
import { appError, badInput, ErrorCode } from "../../../common/errors.ts";
import type { OrderLineInput } from "./input.ts";

export interface PricedLine {
  productId: string;
  quantity: number;
  unitPriceCents: number;
}

export interface CataloguePrice {
  priceCents: number;
  priceVersion: number;
  currency: string;
  active: boolean;
}

const MAX_TOTAL_CENTS = 2_147_483_647; // the orders.total_cents column is a 32-bit integer

/**
 * The two reads every placeOrder makes, in one round trip: the request hash of an order that already has
 * this id (a retry), and the catalogue prices of the products, from PostgreSQL (never a cache: the price is
 * the server's at this moment).
 */
export async function readForPlacement(prisma: PrismaClient, orderId: string, productIds: string[]) {
  const rows = await prisma.$queryRaw<({ existing: string | null; id: string | null } & Partial<CataloguePrice>)[]>`
    SELECT o.request_hash AS existing, p.id::text AS id, p.price_cents AS "priceCents", p.price_version AS "priceVersion",
           p.currency, p.active
    FROM (SELECT 1) AS one
    LEFT JOIN orders o ON o.id = ${orderId}::uuid
    LEFT JOIN products p ON p.id = ANY(${productIds}::uuid[])`;
  const prices = new Map<string, CataloguePrice>();
  for (const r of rows)
    if (r.id) prices.set(r.id, { priceCents: r.priceCents!, priceVersion: r.priceVersion!, currency: r.currency!.trim(), active: r.active! });
  return { existingRequestHash: rows[0]?.existing ?? null, prices };
}

/**
 * Prices the lines from the catalogue, never from the client: the client's expectedPriceCents and
 * priceVersion only detect that it showed the buyer a stale price (PRICE_CHANGED, nothing reserved).
 * Lines keep their (product id) order.
 */
export function priceLines(
  prices: Map<string, CataloguePrice>,
  items: OrderLineInput[],
): { lines: PricedLine[]; totalCents: number; currency: string } {
  const currencies = new Set<string>();
  let totalCents = 0;
  const lines = items.map((item, i) => {
    const product = prices.get(item.productId);
    if (!product || !product.active) {
      throw appError(ErrorCode.NOT_FOUND, `Product ${item.productId} does not exist.`, {
        productId: item.productId,
        field: `input.items.${i}.productId`,
      });
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
    currencies.add(product.currency);
    totalCents += product.priceCents * item.quantity;
    return { productId: item.productId, quantity: item.quantity, unitPriceCents: product.priceCents };
  });
  if (currencies.size > 1)
    throw badInput("input.items", `input.items: products are priced in ${[...currencies].join(" and ")}; one order takes one currency`);
  if (totalCents > MAX_TOTAL_CENTS) throw badInput("input.items", "input.items: the order total is too large");
  return { lines, totalCents, currency: [...currencies][0]! };
}
