import pg from "pg";
import { ensureDatabase, migrate } from "../common/migrate.ts";
import { infraUp, ROOT } from "./env.ts";
import { startChaos } from "../test/chaos/run.ts";
import { combined, FAULTS, type Fault } from "../test/chaos/faults.ts";
import { formatTable, passed, type PhaseResult } from "../test/chaos/table.ts";

// `npm run chaos`: the platform as processes under load (regular orders, a flash sale's crowd), and every fault
// of docs/failure-modes.md injected one at a time, then combined; after each, quiescence and the invariants,
// printed as a table. Exits 1 if any invariant failed. It breaks only what it starts: its own redis-server and
// Kafka broker, and a TCP proxy in front of the shared PostgreSQL, with its own database (<db>_chaos) and topic
// prefix (`chaos.`). CHAOS_FAULTS=<key>,<key>... runs only those (keys: the FAULTS of test/chaos/faults.ts, and
// `combined`).
const env = infraUp();
const dbUrl = new URL(env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/flashgraph");
dbUrl.pathname = `${dbUrl.pathname.replace(/_(test|bench|chaos)$/, "")}_chaos`;
await ensureDatabase(dbUrl.toString());
await migrate(dbUrl.toString());
const db = new pg.Client({ connectionString: dbUrl.toString() });
await db.connect();
const { rows } = await db.query<{ name: string }>(
  "SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'",
);
await db.query(`TRUNCATE ${rows.map((r) => r.name).join(", ")} RESTART IDENTITY CASCADE`);
await db.end();

const all: Record<string, Fault> = {
  ...FAULTS,
  combined: combined("combined: Kafka paused + Redis FLUSHALL + PostgreSQL 3 s + order kill -9", [
    "kafka-pause",
    "redis-flushall",
    "pg-cut-3s",
    "kill-order",
  ]),
};
const keys = process.env.CHAOS_FAULTS?.split(",").filter(Boolean) ?? Object.keys(all);
const unknown = keys.filter((k) => !all[k]);
if (unknown.length) throw new Error(`unknown CHAOS_FAULTS ${unknown.join(", ")}; known: ${Object.keys(all).join(", ")}`);

const chaos = await startChaos({
  env: { ...env, DATABASE_URL: dbUrl.toString(), KAFKA_TOPIC_PREFIX: "chaos.", NODE_ENV: "development" },
  kafkaDir: `${ROOT}.infra/kafka-chaos`,
  root: ROOT,
  log: (line) => console.log(line),
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void chaos.close().finally(() => process.exit(130)));
const results: PhaseResult[] = [];
try {
  for (const key of keys) {
    results.push(await chaos.runPhase(all[key]!));
    console.log(formatTable(results.slice(-1)));
  }
} finally {
  await chaos.close();
}
console.log(`\n${formatTable(results)}`);
process.exit(passed(results) ? 0 : 1);
