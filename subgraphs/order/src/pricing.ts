import { Prisma, queryRows, type PrismaClient } from "../../../common/prisma.ts";
import { appError, badInput, ErrorCode } from "../../../common/errors.ts";
import type { OrderLineInput } from "./input.ts";
import { createBatching } from "../../../common/batching.ts";

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

export interface Placement {
  /** The request hash of the order that already has this id (a retry), or null. */
  existingRequestHash: string | null;
  prices: Map<string, CataloguePrice>;
}

/**
 * The two reads every placeOrder makes, for many concurrent requests in one round trip (common/batching.ts): the
 * request hash of an order that already has the request's id, and the catalogue prices of its products, from
 * PostgreSQL (never a cache: the price is the server's at this moment).
 */
export function createPlacementReader(prisma: PrismaClient) {
  const read = createBatching<{ orderId: string; productIds: string[] }, Placement>(async (requests) => {
    const orderIds = requests.map((r) => r.orderId);
    const productIds = [...new Set(requests.flatMap((r) => r.productIds))];
    const rows = await queryRows<{ kind: "order" | "product"; id: string; existing: string | null } & Partial<CataloguePrice>>(
      prisma,
      Prisma.sql`
      SELECT 'order' AS kind, o.id::text AS id, o.request_hash AS existing, NULL::int AS "priceCents", NULL::int AS "priceVersion",
             NULL::text AS currency, NULL::boolean AS active
      FROM orders o WHERE o.id = ANY(${orderIds}::uuid[])
      UNION ALL
      SELECT 'product', p.id::text, NULL, p.price_cents, p.price_version, p.currency, p.active
      FROM products p WHERE p.id = ANY(${productIds}::uuid[])`,
    );
    const existing = new Map<string, string>();
    const prices = new Map<string, CataloguePrice>();
    for (const r of rows) {
      if (r.kind === "order") existing.set(r.id, r.existing!);
      else prices.set(r.id, { priceCents: r.priceCents!, priceVersion: r.priceVersion!, currency: r.currency!.trim(), active: r.active! });
    }
    return requests.map((r) => ({
      existingRequestHash: existing.get(r.orderId) ?? null,
      prices: new Map(r.productIds.flatMap((id) => (prices.has(id) ? [[id, prices.get(id)!] as const] : []))),
    }));
  });
  return (orderId: string, productIds: string[]): Promise<Placement> => read({ orderId, productIds });
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
