import { join } from "node:path";
import { ROOT } from "./env.ts";
import { clusterInfraUp } from "./cluster-infra.ts";
import { CLUSTER_TESTS, prepareTestRun, runJest } from "./test-setup.ts";

// `npm run test:cluster`: the `*.cluster.test.ts` files against a Redis Cluster (3 masters + 3 replicas,
// scripts/redis-cluster.sh) and a 3-broker Kafka (scripts/infra.sh with KAFKA_NODES=3), both started here on
// ports of their own (so a failover test never kills what `npm start` or another run uses) and stopped at the
// end; a Redis Cluster already running on those ports is reused and left running. PostgreSQL is the shared one,
// as for `npm test`. Extra arguments go to jest (`npm run test:cluster -- redis-failover`).
//
//   REDIS_CLUSTER_PORT (7100)   first of the cluster's 6 ports
//   TEST_KAFKA_CLUSTER_PORT (19092), TEST_KAFKA_CLUSTER_CONTROLLER_PORT (19093)   node i: + 2(i-1)
//   TEST_CLUSTER_INFRA_DIR (.infra/test-cluster)   the brokers' directories and the run's env, so two runs on
//                                                   different ports can go side by side

const infra = clusterInfraUp({
  redisPort: Number(process.env.REDIS_CLUSTER_PORT ?? 7100),
  kafkaPort: Number(process.env.TEST_KAFKA_CLUSTER_PORT ?? 19092),
  kafkaControllerPort: Number(process.env.TEST_KAFKA_CLUSTER_CONTROLLER_PORT ?? 19093),
  infraDir: process.env.TEST_CLUSTER_INFRA_DIR ?? join(ROOT, ".infra", "test-cluster"),
});
let code: number;
try {
  const env = await prepareTestRun(infra.env);
  // One file at a time: the failover files kill nodes the others use. Every path but a cluster file is ignored, so
  // patterns given as arguments choose among those.
  const onlyCluster = `^(?!.*${CLUSTER_TESTS})`;
  // --forceExit: a client of a node a file killed, or of a file that failed midway, would keep jest from exiting.
  code = await runJest(
    ["--runInBand", "--forceExit", ...process.argv.slice(2), "--testPathIgnorePatterns", "/node_modules/", "/.infra/", onlyCluster],
    env,
  );
} finally {
  infra.down();
}
process.exit(code);
