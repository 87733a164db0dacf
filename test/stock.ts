// A product's regular stock counters as PostgreSQL and Redis hold them, for the tests of every subgraph that
// takes or returns stock (order, flash-sale).

import type { PrismaClient } from "../common/prisma.ts";
import type { Redis } from "../common/redis.ts";
import { stockKey } from "../common/stock.ts";
import { eventually } from "./eventually.ts";

export interface Counts {
  available: number;
  reserved: number;
  sold: number;
}

/** PostgreSQL's committed counters for a product: its stock row plus the moves the stock aggregator has not folded in yet. */
export async function pgStock(prisma: PrismaClient, productId: string): Promise<Counts> {
  const [row] = await prisma.$queryRaw<Counts[]>`
    SELECT s.available + COALESCE(sum(m.available), 0)::int AS available, s.reserved + COALESCE(sum(m.reserved), 0)::int AS reserved,
           s.sold + COALESCE(sum(m.sold), 0)::int AS sold
    FROM stock s LEFT JOIN stock_moves m ON m.product_id = s.product_id WHERE s.product_id = ${productId}::uuid GROUP BY s.product_id`;
  if (!row) throw new Error(`product ${productId} has no stock row`);
  return row;
}

/** Redis's live counters for a product (null when Redis has not loaded them). */
export async function redisStock(redis: Redis, productId: string): Promise<Counts | null> {
  const [a, r, s] = await redis.hmget(stockKey(productId), "available", "reserved", "sold");
  return a === null || r === null || s === null ? null : { available: Number(a), reserved: Number(r), sold: Number(s) };
}

export const total = (c: Counts | null) => (c ? c.available + c.reserved + c.sold : Number.NaN);

/**
 * The product's stock row once the stock aggregator has folded every move of the product into it (the order
 * subgraph running in the test runs one), so a test sees what the aggregator wrote, not only the journal.
 */
export async function foldedStock(prisma: PrismaClient, productId: string): Promise<Counts> {
  return eventually(
    async () => {
      const pending = await prisma.stockMove.count({ where: { productId } });
      if (pending > 0) return undefined;
      return prisma.stock.findUniqueOrThrow({ where: { productId }, select: { available: true, reserved: true, sold: true } });
    },
    10_000,
    `the stock journal of ${productId} folded`,
  );
}
