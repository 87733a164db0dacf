// A product's regular stock counters as PostgreSQL and Redis hold them, for the tests of every subgraph that
// takes or returns stock (order, flash-sale).

import type { PrismaClient } from "../common/prisma.ts";
import type { Redis } from "../common/redis.ts";
import { stockKey } from "../common/stock.ts";

export interface Counts {
  available: number;
  reserved: number;
  sold: number;
}

/** PostgreSQL's committed counters for a product. */
export async function pgStock(prisma: PrismaClient, productId: string): Promise<Counts> {
  const row = await prisma.stock.findUniqueOrThrow({ where: { productId }, select: { available: true, reserved: true, sold: true } });
  return row;
}

/** Redis's live counters for a product (null when Redis has not loaded them). */
export async function redisStock(redis: Redis, productId: string): Promise<Counts | null> {
  const [a, r, s] = await redis.hmget(stockKey(productId), "available", "reserved", "sold");
  return a === null || r === null || s === null ? null : { available: Number(a), reserved: Number(r), sold: Number(s) };
}

export const total = (c: Counts | null) => (c ? c.available + c.reserved + c.sold : Number.NaN);
