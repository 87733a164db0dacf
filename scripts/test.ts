import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { infraUp, ROOT } from "./env.ts";
import { redisClusterUp } from "./cluster-infra.ts";
import { CLUSTER_TESTS, prepareTestRun, runJest } from "./test-setup.ts";

// `npm test`: make the services reachable, prepare the run (scripts/test-setup.ts), then run every test layer.
// Last comes a reduced form of `npm run test:cluster` (scripts/test-cluster.ts): the cluster files that need a
// Redis Cluster but not the 3-broker Kafka, on a Redis Cluster started here on ports of its own
// (TEST_REDIS_CLUSTER_PORT, default 7400-7405) and stopped afterwards; their suites' topics are on the usual broker.
// What the tests need beyond the services (infra.sh installs only what is missing, and says what and why if it can't):
// Chromium for the storefront, Compose to check docker-compose.yml, redis-server for the Redis Cluster files.
const deps = spawnSync("bash", [`${ROOT}scripts/infra.sh`, "deps", "chromium", "docker-compose", "redis-server"], { stdio: "inherit" });
if (deps.status !== 0) process.exit(deps.status ?? 1);
const env = await prepareTestRun(infraUp());

/** The cluster files `npm test` runs: scripts on every tag, pub/sub across nodes, a master killed, replica acks. */
const REDIS_CLUSTER_FILES = "test/cluster/(redis-scripts|pubsub|redis-failover|replica-ack)\\.cluster\\.test\\.ts$";

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
const clusterCode = await runRedisClusterFiles();
process.exit(restCode || soloCode || clusterCode);

/** One file at a time (the failover files kill nodes the others use), as `npm run test:cluster` runs them. */
async function runRedisClusterFiles(): Promise<number> {
  const started = Date.now();
  const cluster = redisClusterUp(Number(process.env.TEST_REDIS_CLUSTER_PORT ?? 7400));
  try {
    // --forceExit: a cluster client reconnecting to a node a failover test killed can outlive its file by seconds.
    return await runJest(["--runInBand", "--forceExit", REDIS_CLUSTER_FILES, "--testPathIgnorePatterns", "/node_modules/", "/.infra/"], {
      ...env,
      REDIS_CLUSTER_NODES: cluster.nodes,
    });
  } finally {
    cluster.down();
    console.log(`Redis Cluster files: ${((Date.now() - started) / 1000).toFixed(1)} s, the cluster's start and stop included`);
  }
}
