import { Prisma, type Tx } from "../prisma.ts";

// The regular-stock rebuild locks (PostgreSQL advisory locks, held until the transaction ends). Orders do not
// update the stock rows they hold (they append to the stock journal, subgraphs/order/src/stock-moves.ts), so the
// rows' locks no longer keep an order from being written or settled while Redis is rebuilt from PostgreSQL. These
// do: every writer of an order's stock moves holds `stock:all` and each of its products' locks shared (writers
// never wait for each other); a rebuild of some products holds `stock:all` shared and theirs exclusively, the
// rebuild after a loss of everything holds `stock:all` exclusively. Everyone takes `stock:all` first, then products
// in id order, so no two of them deadlock.

const ALL = "stock:all";
const productLock = (productId: string) => `stock:${productId}`;
const names = (productIds: readonly string[]) => [...new Set(productIds)].sort().map(productLock);

/**
 * A SELECT that takes the writer's locks (`stock:all`, then the products', all shared), for a statement that
 * must stay one statement: reference its single column `locks` where the writes must wait for them.
 */
export function stockWriterLocksSql(productIds: readonly string[]): Prisma.Sql {
  return Prisma.sql`SELECT count(*)::int AS locks FROM (
      SELECT pg_advisory_xact_lock_shared(hashtextextended(k, 0)) FROM unnest(${[ALL, ...names(productIds)]}::text[]) AS k) l`;
}

/** The writer's locks inside the caller's transaction (see stockWriterLocksSql). */
export async function lockStockShared(tx: Tx, productIds: readonly string[]): Promise<void> {
  await tx.$queryRaw(stockWriterLocksSql(productIds));
}

/** A rebuild's locks: `stock:all` exclusively when `productIds` is "all", else shared and these products exclusively. */
export async function lockStockForRebuild(tx: Tx, productIds: readonly string[] | "all"): Promise<void> {
  if (productIds === "all") {
    await tx.$queryRaw`SELECT count(*)::int AS n FROM (SELECT pg_advisory_xact_lock(hashtextextended(${ALL}, 0))) l`;
    return;
  }
  await tx.$queryRaw`SELECT count(*)::int AS n FROM (SELECT pg_advisory_xact_lock_shared(hashtextextended(${ALL}, 0))) l`;
  await tx.$queryRaw`SELECT count(*)::int AS n FROM (SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(${names(productIds)}::text[]) AS k) l`;
}
