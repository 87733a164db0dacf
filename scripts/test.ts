import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { infraUp, ROOT } from "./env.ts";
import { CLUSTER_TESTS, prepareTestRun, runJest } from "./test-setup.ts";

// `npm test`: make the services reachable, prepare the run (scripts/test-setup.ts), then run every test layer.
// The `*.cluster.test.ts` files are never run here: they need the Redis Cluster and Kafka cluster that
// `npm run test:cluster` (scripts/test-cluster.ts) starts.
const env = await prepareTestRun(infraUp());

/**
 * Files run after the rest, one at a time: those that start processes, a browser or a broker of their own (the
 * storefront in Chromium, the chaos suite, Kafka restarts and stalls, the smoke test, production start-up
 * refusals), and those that time the router's answers while they attack it (they import test/health-during.ts and
 * assert that /health answers within 200 ms). Beside another file's work on a 2-core machine the second kind
 * measures the neighbour, not the attack. Arguments after `--` run exactly what they name, in one jest run.
 */
const PROCESS_STARTERS = /(storefront|chaos|kafka-restart|kafka-stall|smoke|production-config)\.[a-z0-9]+\.test\.ts$/;
const IGNORED = ["/node_modules/", "/.infra/", CLUSTER_TESTS];

function soloFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return ["node_modules", ".infra", ".git", "dist"].includes(entry.name) ? [] : soloFiles(path);
    if (!entry.name.endsWith(".test.ts") || new RegExp(CLUSTER_TESTS).test(entry.name)) return [];
    return PROCESS_STARTERS.test(entry.name) || readFileSync(path, "utf8").includes("health-during.ts") ? [path] : [];
  });
}

const args = process.argv.slice(2);
// The ignore patterns go last: the option takes every argument after it.
if (args.length > 0) process.exit(await runJest([...args, "--testPathIgnorePatterns", ...IGNORED], env));
const solo = soloFiles(ROOT).map((path) => `${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
const restCode = await runJest(["--testPathIgnorePatterns", ...IGNORED, ...solo], env);
const soloCode = await runJest(["--runInBand", ...solo], env);
process.exit(restCode || soloCode);
