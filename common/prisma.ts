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

/** Prisma 7 runs on the `pg` driver adapter: no engine binary, every query bounded by a timeout. */
export function createPrisma(databaseUrl: string, options: PrismaOptions = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5_000,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
  });
  if (!options.onQuery) return new PrismaClient({ adapter });
  const prisma = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  const onQuery = options.onQuery;
  prisma.$on("query", (event) => onQuery(event.query));
  return prisma as unknown as PrismaClient;
}

/** True when `error` is Prisma's unique-constraint violation (P2002), optionally on a given field. */
export function isUniqueViolation(error: unknown, field?: string): boolean {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError) || error.code !== "P2002") return false;
  if (!field) return true;
  return JSON.stringify(error.meta ?? {}).includes(field);
}
