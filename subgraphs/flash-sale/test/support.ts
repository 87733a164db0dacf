import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Redis } from "../../../common/redis.ts";
import type { GraphQLResponse } from "../../../test/harness.ts";
import { itemKeys } from "../../../common/orders/flash-keys.ts";

export const SALE_FIELDS = `id name startsAt endsAt state perUserLimit items { product { id } salePriceCents quantity remaining }`;
export const CREATE_SALE = `mutation($input: CreateFlashSaleInput!) { createFlashSale(input: $input) { ${SALE_FIELDS} } }`;
export const END_SALE = `mutation($id: ID!) { endFlashSale(id: $id) { ${SALE_FIELDS} } }`;
export const SALE = `query($id: ID!) { flashSale(id: $id) { ${SALE_FIELDS} } }`;
export const PURCHASE = `mutation($input: FlashPurchaseInput!) { flashPurchase(input: $input) {
  id status totalCents currency reservedUntil flashSaleId createdAt items { quantity unitPriceCents product { id } } } }`;

type Gql = (query: string, variables?: Record<string, unknown>, opts?: { token?: string }) => Promise<GraphQLResponse>;

export interface SaleSpec {
  productId: string;
  quantity: number;
  salePriceCents?: number;
}

/** Creates a sale through the router; by default active from a second ago for an hour. */
export async function createSale(gql: Gql, admin: string, items: SaleSpec[], overrides: Record<string, unknown> = {}) {
  const now = Date.now();
  const input = {
    name: `Drop ${randomUUID().slice(0, 8)}`,
    startsAt: new Date(now - 1_000).toISOString(),
    endsAt: new Date(now + 3_600_000).toISOString(),
    perUserLimit: 2,
    items: items.map((i) => ({ productId: i.productId, quantity: i.quantity, salePriceCents: i.salePriceCents ?? 500 })),
    ...overrides,
  };
  const res = await gql(CREATE_SALE, { input }, { token: admin });
  if (res.errors) throw new Error(`createFlashSale failed: ${JSON.stringify(res.errors)}`);
  return res.data!.createFlashSale as { id: string; state: string; items: { product: { id: string }; remaining: number; quantity: number }[] };
}

export const purchaseInput = (saleId: string, productId: string, quantity = 1, idempotencyKey: string = randomUUID()) => ({
  flashSaleId: saleId,
  productId,
  quantity,
  idempotencyKey,
});

/** Everything Redis holds about one sale item that a refusal must leave unchanged. */
export async function itemTrace(redis: Redis, saleId: string, productId: string) {
  const k = itemKeys(saleId, productId);
  const [item, users, expiry] = await Promise.all([redis.hgetall(k.item), redis.hgetall(k.users), redis.zrange(k.expiry, 0, -1)]);
  return { item, users, expiry };
}

/** Units PostgreSQL's flash orders of an item hold (not CANCELLED or EXPIRED). */
export async function pgSold(prisma: PrismaClient, saleId: string, productId: string): Promise<number> {
  const [row] = await prisma.$queryRaw<{ units: number }[]>`
    SELECT coalesce(sum(i.quantity), 0)::int AS units FROM orders o JOIN order_items i ON i.order_id = o.id
    WHERE o.flash_sale_id = ${saleId}::uuid AND i.product_id = ${productId}::uuid AND o.status NOT IN ('CANCELLED', 'EXPIRED')`;
  return row?.units ?? 0;
}

export async function redisSold(redis: Redis, saleId: string, productId: string): Promise<number> {
  return Number(await redis.hget(itemKeys(saleId, productId).item, "sold"));
}
