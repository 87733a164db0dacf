import { randomUUID } from "node:crypto";
import { config } from "../../test/harness.ts";
import { createPrisma, type PrismaClient } from "../prisma.ts";
import { markAllProcessed, processedAmong } from "../processed.ts";

// The notifications worker asks which of a fetched batch's events it has handled: hundreds of ids at once in a
// sale. PostgreSQL must answer by key, not by reading every processed event ever recorded.
let prisma: PrismaClient;

beforeAll(() => {
  prisma = createPrisma(config.DATABASE_URL);
});
afterAll(() => prisma.$disconnect());

it("finds the recorded events of a 400-id batch among thousands, by key lookups only", async () => {
  const consumer = `test-${randomUUID()}`;
  const recorded = Array.from({ length: 3000 }, () => randomUUID());
  const unseen = Array.from({ length: 200 }, () => randomUUID());
  await markAllProcessed(prisma, consumer, recorded);
  await markAllProcessed(prisma, `${consumer}-other`, unseen); // another consumer's records of asked ids do not count
  const asked = [...recorded.slice(0, 200), ...unseen];

  // pg_stat_xact_user_tables counts what this transaction did, whatever else the database is doing.
  const { found, scans } = await prisma.$transaction(async (tx) => {
    const found = await processedAmong(tx, consumer, asked);
    const [scans] = await tx.$queryRaw<{ seq_scan: bigint; idx_scan: bigint }[]>`
      SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'processed_events'`;
    return { found, scans };
  });

  expect(found).toEqual(new Set(recorded.slice(0, 200)));
  expect(Number(scans?.seq_scan)).toBe(0);
  expect(Number(scans?.idx_scan)).toBeGreaterThan(0);
  expect(await processedAmong(prisma, `${consumer}-other`, asked)).toEqual(new Set(unseen));
});
