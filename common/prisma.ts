import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient, Prisma } from "../generated/prisma/client.ts";

export { Prisma, PrismaClient };
export type Tx = Prisma.TransactionClient;

export interface PrismaOptions {
  /** Connections in this process's pool (default 10). */
  poolSize?: number;
  /** Longest a query may run before PostgreSQL cancels it, in ms (default 10 000). */
  statementTimeoutMs?: number;
  /** Called with the SQL of every query (tests and benchmarks count round trips with it). */
  onQuery?: (sql: string) => void;
}

/** The pool under each client createPrisma made (not one that logs its queries: those keep going through Prisma). */
const pools = new WeakMap<PrismaClient, pg.Pool>();

/**
 * Prisma 7 runs on the `pg` driver adapter: no engine binary, every query bounded by a timeout. The pool is made
 * here and handed to the adapter, so `queryRows` can use the same connections.
 */
export function createPrisma(databaseUrl: string, options: PrismaOptions = {}): PrismaClient {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
  });
  // The adapter's copy of @types/pg is a version apart from ours; at run time both are this `pg`.
  const adapter = new PrismaPg(pool as unknown as ConstructorParameters<typeof PrismaPg>[0], { disposeExternalPool: true });
  if (!options.onQuery) {
    const prisma = new PrismaClient({ adapter });
    pools.set(prisma, pool);
    return prisma;
  }
  const prisma = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  const onQuery = options.onQuery;
  prisma.$on("query", (event) => onQuery(event.query));
  return prisma as unknown as PrismaClient;
}

/**
 * Runs one raw statement straight on the client's pool, as `$queryRaw` would answer it for the types `pg` parses
 * alike (text, int4, boolean, their arrays). For the statements of a hot path: Prisma's per-call work maps every
 * parameter and value (its client was about 9% of the order process's CPU in a bench:orders profile). Falls back
 * to `$queryRaw` for a client with no pool of its own here (one whose queries are logged).
 */
export async function queryRows<T>(prisma: PrismaClient, statement: Prisma.Sql): Promise<T[]> {
  const pool = pools.get(prisma);
  if (!pool) return prisma.$queryRaw<T[]>(statement);
  const { rows } = await pool.query(statement.text, statement.values as unknown[]);
  return rows as T[];
}

/** True when `error` is Prisma's unique-constraint violation (P2002), optionally on a given field. */
export function isUniqueViolation(error: unknown, field?: string): boolean {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError) || error.code !== "P2002") return false;
  if (!field) return true;
  return JSON.stringify(error.meta ?? {}).includes(field);
}
