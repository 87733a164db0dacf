import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./env.ts";
import { CLUSTER_TESTS, prepareTestRun, runJest } from "./test-setup.ts";

// `npm run test:cluster`: the `*.cluster.test.ts` files against a Redis Cluster (3 masters + 3 replicas,
// scripts/redis-cluster.sh) and a 3-broker Kafka (scripts/infra.sh with KAFKA_NODES=3), both started here on
// ports of their own (so a failover test never kills what `npm start` or another run uses) and stopped at the
// end; a Redis Cluster already running on those ports is reused and left running. PostgreSQL is the shared one,
// as for `npm test`. Extra arguments go to jest (`npm run test:cluster -- redis-failover`).
//
//   REDIS_CLUSTER_PORT (7100)   first of the cluster's 6 ports
//   TEST_KAFKA_CLUSTER_PORT (19092), TEST_KAFKA_CLUSTER_CONTROLLER_PORT (19093)   node i: + 2(i-1)

const redisPort = process.env.REDIS_CLUSTER_PORT ?? "7100";
const infraDir = join(ROOT, ".infra", "test-cluster");
const runRecord = join(mkdtempSync(join(tmpdir(), "flashgraph-test-cluster-")), "started");
const kafkaEnv = {
  INFRA_DIR: infraDir,
  INFRA_RUN_RECORD: runRecord,
  KAFKA_NODES: "3",
  KAFKA_PORT: process.env.TEST_KAFKA_CLUSTER_PORT ?? "19092",
  KAFKA_CONTROLLER_PORT: process.env.TEST_KAFKA_CLUSTER_CONTROLLER_PORT ?? "19093",
  KAFKA_CLUSTER_DIR: join(infraDir, "kafka-cluster"),
};
const redisEnv = { ...process.env, REDIS_CLUSTER_PORT: redisPort };

function run(command: string, args: string[], env: NodeJS.ProcessEnv, capture = false) {
  const result = spawnSync(command, args, { cwd: ROOT, env, encoding: "utf8", stdio: capture ? ["ignore", "pipe", "inherit"] : "inherit" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (exit ${result.status})`);
  return result.stdout ?? "";
}

const redisWasRunning = spawnSync("bash", ["scripts/redis-cluster.sh", "status"], { cwd: ROOT, env: redisEnv, stdio: "ignore" }).status === 0;
let code: number;
try {
  const started = run("bash", ["scripts/redis-cluster.sh", "start"], redisEnv, true);
  const nodes = /^REDIS_CLUSTER_NODES=(\S+)$/m.exec(started)?.[1];
  if (!nodes) throw new Error(`scripts/redis-cluster.sh start printed no REDIS_CLUSTER_NODES: ${started}`);
  const { KAFKA_BROKERS: _ignored, ...base } = process.env; // the cluster's brokers, never a configured single one
  run("bash", ["scripts/infra.sh", "up"], { ...base, ...kafkaEnv });
  const env: NodeJS.ProcessEnv = { ...base, ...kafkaEnv, REDIS_CLUSTER_NODES: nodes };
  for (const line of readFileSync(join(infraDir, "env"), "utf8").split("\n")) {
    const match = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]!] = match[2]!;
  }
  await prepareTestRun(env);
  // One file at a time: the failover files kill nodes the others use. Every path but a cluster file is ignored, so
  // patterns given as arguments choose among those.
  const onlyCluster = `^(?!.*${CLUSTER_TESTS})`;
  code = await runJest(["--runInBand", ...process.argv.slice(2), "--testPathIgnorePatterns", "/node_modules/", "/.infra/", onlyCluster], env);
} finally {
  spawnSync("bash", ["scripts/infra.sh", "down"], { cwd: ROOT, env: { ...process.env, ...kafkaEnv }, stdio: "inherit" });
  rmSync(runRecord, { force: true });
  if (!redisWasRunning) spawnSync("bash", ["scripts/redis-cluster.sh", "stop"], { cwd: ROOT, env: redisEnv, stdio: "inherit" });
}
process.exit(code);
