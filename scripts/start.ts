import { spawn, type ChildProcess } from "node:child_process";
import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { createPrisma } from "../common/prisma.ts";
import { SUBGRAPHS } from "../schema/compose.ts";
import { prepare } from "./prepare.ts";
import { seed } from "./seed.ts";
import { infraDown, infraUp, ROOT } from "./env.ts";

// `npm start`: infrastructure, migrations, demo data, every subgraph and the router, in one terminal.
// Ctrl-C or SIGTERM stops the services, then whatever infrastructure this command itself started.
const logger = createLogger("start", "info");
const runRecord = `${ROOT}.infra/started-by-start-${process.pid}`;
const env = infraUp(runRecord);
const config = loadConfig(env);
await prepare(config, logger);
if (config.SEED) {
  const prisma = createPrisma(config.DATABASE_URL);
  await seed(prisma, logger);
  await prisma.$disconnect();
}

const ENTRIES: Record<string, { entry: string; port: number }> = {
  product: { entry: "subgraphs/product/src/main.ts", port: config.PRODUCT_PORT },
  inventory: { entry: "subgraphs/inventory/src/main.ts", port: config.INVENTORY_PORT },
  order: { entry: "subgraphs/order/src/main.ts", port: config.ORDER_PORT },
  "flash-sale": { entry: "subgraphs/flash-sale/src/main.ts", port: config.FLASH_SALE_PORT },
  router: { entry: "router/src/main.ts", port: config.PORT },
};
const children = new Map<string, ChildProcess>();
let stopping = false;

function startProcess(name: string) {
  const { entry } = ENTRIES[name]!;
  const child = spawn(process.execPath, ["--import", "tsx", `${ROOT}${entry}`], { env, cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  child.on("exit", (code, signal) => {
    children.delete(name);
    if (!stopping) {
      logger.error({ service: name, code, signal }, "service exited; stopping everything");
      void stop(1);
    }
  });
  children.set(name, child);
}

async function waitHealthy(name: string, timeoutMs = 60_000) {
  const url = `http://127.0.0.1:${ENTRIES[name]!.port}/health`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return;
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1_000) })).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not answer ${url} within ${timeoutMs / 1000} s`);
}

async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  const exits = [...children.values()].map((child) => new Promise((resolve) => child.once("exit", resolve)));
  for (const child of children.values()) child.kill("SIGTERM");
  const timer = setTimeout(() => children.forEach((child) => child.kill("SIGKILL")), 10_000);
  await Promise.all(exits);
  clearTimeout(timer);
  infraDown(runRecord);
  process.exit(code);
}
process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

try {
  const subgraphs = SUBGRAPHS.map((s) => s.name);
  subgraphs.forEach(startProcess);
  await Promise.all(subgraphs.map((name) => waitHealthy(name)));
  startProcess("router");
  await waitHealthy("router");
} catch (error) {
  logger.error({ err: error }, "platform did not start");
  await stop(1);
}
console.log(`
  Platform is up.
    GraphQL + Sandbox   http://localhost:${config.PORT}/graphql
    Health / ready      http://localhost:${config.PORT}/health  http://localhost:${config.PORT}/ready
    Metrics             http://localhost:${config.PORT}/metrics
    Subgraphs           ${SUBGRAPHS.map((s) => `${s.name} :${ENTRIES[s.name]!.port}`).join(", ")}
    Dev token           npm run token -- --sub alice [--admin]
  Ctrl-C stops everything this command started.
`);
