import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { fileURLToPath } from "node:url";
import { startChaos } from "./chaos/run.ts";
import { FAULTS } from "./chaos/faults.ts";
import { formatTable, type PhaseResult } from "./chaos/table.ts";

// The short form of `npm run chaos` (test/chaos/): the platform as processes on a Redis of its own and a proxy in
// front of PostgreSQL (this file's database), on the shared broker under this file's topic prefix, under load
// (regular orders, a flash sale's crowd) while faults are injected one at a time: Redis FLUSHALL and PostgreSQL
// unreachable for 3 s, and the order subgraph killed with SIGKILL and restarted. After each, once the platform is
// quiet, every invariant must hold. Kafka faults need a broker of the suite's own (~10 s to start) and run in
// `npm run chaos` only.
const ROOT = fileURLToPath(new URL("../", import.meta.url));
let chaos: Awaited<ReturnType<typeof startChaos>>;
const results: PhaseResult[] = [];

beforeAll(async () => {
  chaos = await startChaos({ env: process.env, root: ROOT, beforeMs: 1_500, afterMs: 2_000, quiescenceMs: 45_000 });
}, 120_000);

afterAll(async () => {
  if (results.length) process.stdout.write(`${formatTable(results)}\n`);
  await chaos?.close();
}, 60_000);

test.each(["redis-flushall", "pg-cut-3s", "kill-order"])(
  "%s under load: every invariant holds once the platform is quiet",
  async (key) => {
    const result = await chaos.runPhase(FAULTS[key]!);
    results.push(result);
    expect(result.error).toBeUndefined();
    const failed = [result.quiescence, ...result.checks].filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    expect(failed).toEqual([]);
    expect(result.checks.length).toBeGreaterThanOrEqual(7);
  },
  120_000,
);
