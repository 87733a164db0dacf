import { join } from "node:path";
import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { createPrisma } from "../common/prisma.ts";
import { SUBGRAPHS } from "../schema/compose.ts";
import { prepare } from "./prepare.ts";
import { seed } from "./seed.ts";
import { ROOT } from "./env.ts";
import { clusterInfraUp } from "./cluster-infra.ts";
import { createClusterStack, defaultLayout } from "./cluster-stack.ts";
import { haproxyMissing } from "./haproxy.ts";

// `npm run start:cluster`: the platform scaled out on one machine (docs/scale-out.md#the-whole-stack-npm-run-startcluster):
// a Redis Cluster of 3 masters + 3 replicas (7000-7005), a 3-broker Kafka (9192-9197), migrations and demo data as
// `npm start` does, CLUSTER_INSTANCES (2) instances of every subgraph and router, and HAProxy in front of the
// routers on :4000 and of each subgraph's instances on 4001-4004. Ctrl-C or SIGTERM stops all of it in reverse
// order: HAProxy, the services, the brokers, the Redis Cluster (each only if this command started it).
//
//   REDIS_CLUSTER_PORT (7000)   first of the Redis Cluster's 6 ports
//   CLUSTER_KAFKA_PORT (9192), CLUSTER_KAFKA_CONTROLLER_PORT (9193)   Kafka node i: + 2(i-1) (beside a single
//                               broker on 9092, which `npm start` and the tests use)
//   CLUSTER_INSTANCES (2)       instances of each service (1-5); instance i listens on 4i00 (router), 4i01-4i04
const logger = createLogger("start-cluster", "info");
const missing = haproxyMissing();
if (missing) {
  console.error(`start:cluster: ${missing}`);
  process.exit(1);
}
const instances = Number(process.env.CLUSTER_INSTANCES ?? 2);
if (!Number.isInteger(instances) || instances < 1 || instances > 5) {
  console.error(`start:cluster: CLUSTER_INSTANCES must be a whole number from 1 to 5 (got ${process.env.CLUSTER_INSTANCES})`);
  process.exit(1);
}
loadConfig(); // before anything starts: NODE_ENV=production refuses weak secrets here (common/production-config.ts)

const infraDir = join(ROOT, ".infra", "cluster");
const infra = clusterInfraUp({
  redisPort: Number(process.env.REDIS_CLUSTER_PORT ?? 7000),
  kafkaPort: Number(process.env.CLUSTER_KAFKA_PORT ?? 9192),
  kafkaControllerPort: Number(process.env.CLUSTER_KAFKA_CONTROLLER_PORT ?? 9193),
  infraDir,
});
const layout = defaultLayout(instances);
let stopping = false;
let stack: ReturnType<typeof createClusterStack> | undefined;

async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  await stack?.stop();
  infra.down();
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

try {
  const config = loadConfig(infra.env);
  await prepare(config, logger);
  if (config.SEED) {
    const prisma = createPrisma(config.DATABASE_URL);
    await seed(prisma, logger);
    await prisma.$disconnect();
  }
  stack = createClusterStack({
    env: infra.env,
    logger,
    layout,
    dir: infraDir,
    onUnexpectedExit: (name, { code, signal }) => {
      logger.error({ service: name, code, signal }, "exited; stopping everything");
      void stop(1);
    },
  });
  await stack.start();
} catch (error) {
  // A signal or a service's exit is already stopping everything (and said why); anything else is news.
  if (!stopping) logger.error({ err: error }, "cluster stack did not start");
  await stop(1);
}
if (!stopping) {
  const instancePorts = (name: string) => layout.instances.map((ports) => ports[name]).join(", ");
  console.log(`
  Cluster stack is up: ${instances} instance(s) of every service behind HAProxy.
    GraphQL + Sandbox   http://localhost:${layout.front.router}/graphql   (routers on ${instancePorts("router")})
    Subgraphs (HAProxy) ${SUBGRAPHS.map((s) => `${s.name} :${layout.front.subgraphs[s.name]} -> ${instancePorts(s.name)}`).join("; ")}
    HAProxy stats       http://localhost:${layout.front.stats}/   (config ${stack!.configFile})
    Redis Cluster       ${infra.env.REDIS_CLUSTER_NODES}
    Kafka brokers       ${infra.env.KAFKA_BROKERS}
    One instance        header x-flashgraph-server: router-2 (or product-1, ...) pins a request sent to HAProxy
    Dev token           npm run token -- --sub alice [--admin]
  Ctrl-C stops everything this command started.
`);
}
