import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { createPrisma } from "../common/prisma.ts";
import { SUBGRAPHS } from "../schema/compose.ts";
import { prepare } from "./prepare.ts";
import { seed } from "./seed.ts";
import { infraDown, infraUp, ROOT } from "./env.ts";
import { createServices } from "./services.ts";
import { buildStorefront } from "../web/build.ts";

// `npm start`: infrastructure, migrations, demo data, every subgraph, the router and the storefront, in one terminal.
// Ctrl-C or SIGTERM stops the services, then whatever infrastructure this command itself started.
const logger = createLogger("start", "info");
const runRecord = `${ROOT}.infra/started-by-start-${process.pid}`;
// Before anything starts: NODE_ENV=production refuses weak secrets here (common/production-config.ts).
loadConfig();
const env = infraUp(runRecord);
const config = loadConfig(env);
await prepare(config, logger);
if (config.SEED) {
  const prisma = createPrisma(config.DATABASE_URL);
  await seed(prisma, logger);
  await prisma.$disconnect();
}
await buildStorefront();

let stopping = false;
const services = createServices({
  env,
  logger,
  storefront: true,
  onUnexpectedExit: (name, { code, signal }) => {
    logger.error({ service: name, code, signal }, "service exited; stopping everything");
    void stop(1);
  },
});

async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  await services.stop();
  infraDown(runRecord);
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

try {
  await services.start();
} catch (error) {
  // A signal or a service's exit is already stopping everything (and said why); anything else is news.
  if (!stopping) logger.error({ err: error }, "platform did not start");
  await stop(1);
}
if (!stopping) {
  console.log(`
  Platform is up.
    Storefront          http://localhost:${config.WEB_PORT}/
    GraphQL + Sandbox   http://localhost:${config.PORT}/graphql
    Health / ready      http://localhost:${config.PORT}/health  http://localhost:${config.PORT}/ready
    Metrics             http://localhost:${config.PORT}/metrics
    Subgraphs           ${SUBGRAPHS.map((s) => `${s.name} :${services.ports[s.name]}`).join(", ")}
    Dev token           npm run token -- --sub alice [--admin]
  Ctrl-C stops everything this command started.
`);
}
