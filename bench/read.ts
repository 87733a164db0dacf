import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import autocannon from "autocannon";
import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { createPrisma } from "../common/prisma.ts";
import { infraUp, ROOT } from "../scripts/env.ts";
import { BENCH_RATE_LIMITS, productionSecrets, waitFor } from "./platform.ts";
import { freePort } from "../common/ports.ts";
import { prepare } from "../scripts/prepare.ts";
import { createProductStore } from "../subgraphs/product/src/products.ts";

// `npm run bench:read`: the read path through the router, with the product cache off and then on, in
// one run against the real services. Product, inventory and router run as separate processes (as in
// production) on free ports, on their own database (<name>_bench) and topic prefix, so nothing here
// touches what `npm start` or `npm test` use. Both stacks run side by side and the measured runs
// alternate off, on, off, on..., so load from anything else on the machine falls on both alike; each
// figure is the median over the rounds. BENCH_DURATION (s per run, default 8), BENCH_ROUNDS (default 3)
// and BENCH_CONNECTIONS (default 50) tune it.
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const CATALOGUE_SIZE = 200;
const log = createLogger("bench-read", "info");

const env = infraUp();
const dbUrl = new URL(env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/flashgraph");
dbUrl.pathname = `${dbUrl.pathname.replace(/_(test|bench)$/, "")}_bench`;
Object.assign(env, {
  DATABASE_URL: dbUrl.toString(),
  KAFKA_TOPIC_PREFIX: "bench.",
  NODE_ENV: "production",
  LOG_LEVEL: "error",
  SEED: "false",
  ...productionSecrets(),
  ...BENCH_RATE_LIMITS,
});
await prepare(loadConfig(env), log);
const ids = await ensureCatalogue(env.DATABASE_URL!);

const randomId = () => ids[Math.floor(Math.random() * ids.length)];
/** What the issue asks for goes through the router; the last row shows the product subgraph's own share. */
const SCENARIOS: Record<string, { target: "router" | "product"; body: () => object }> = {
  "products(first: 20) + stock": {
    target: "router",
    body: () => ({ query: "{ products(first: 20) { nodes { name priceCents stock { available } } } }" }),
  },
  "product(id) + stock": {
    target: "router",
    body: () => ({ query: "query($id: ID!) { product(id: $id) { name priceCents stock { available } } }", variables: { id: randomId() } }),
  },
  "product(id), product subgraph alone": {
    target: "product",
    body: () => ({ query: "query($id: ID!) { product(id: $id) { name priceCents } }", variables: { id: randomId() } }),
  },
};

type Run = Awaited<ReturnType<typeof measure>>;
interface Row extends Run {
  scenario: string;
  cache: "off" | "on";
}
const stacks = { off: await startStack(false), on: await startStack(true) };
const rows: Row[] = [];
try {
  for (const [scenario, { target, body }] of Object.entries(SCENARIOS)) {
    for (const stack of Object.values(stacks)) await load(stack.urls[target], body, 3); // warm-up: connections, JIT, the cache
    const runs: Record<"off" | "on", Run[]> = { off: [], on: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const cache of ["off", "on"] as const) runs[cache].push(await measure(stacks[cache], target, body));
    }
    for (const cache of ["off", "on"] as const) rows.push({ scenario, cache, ...medianRun(runs[cache]) });
  }
} finally {
  await Promise.all(Object.values(stacks).map((s) => s.stop()));
}
report(rows);
process.exit(0);

/** Makes sure the bench database has a catalogue with stock; returns its product ids. */
async function ensureCatalogue(databaseUrl: string): Promise<string[]> {
  const prisma = createPrisma(databaseUrl);
  const store = createProductStore(prisma);
  for (let i = await prisma.product.count(); i < CATALOGUE_SIZE; i++) {
    await store.create({
      sku: `BENCH-${i}-${randomUUID().slice(0, 6)}`,
      name: `Bench item ${i}`,
      description: "Read benchmark",
      priceCents: 100 + i,
      currency: "USD",
      initialStock: 1_000,
    });
  }
  const rows = await prisma.product.findMany({ select: { id: true }, take: CATALOGUE_SIZE });
  await prisma.$disconnect();
  return rows.map((r) => r.id);
}

async function startStack(cacheEnabled: boolean) {
  const [product, inventory, router] = [await freePort(), await freePort(), await freePort()];
  const childEnv = {
    ...env,
    CACHE_ENABLED: String(cacheEnabled),
    CACHE_KEY_PREFIX: `bench:${randomUUID()}:`, // a cold cache every run
    PRODUCT_PORT: String(product),
    INVENTORY_PORT: String(inventory),
    PORT: String(router),
    PRODUCT_URL: `http://127.0.0.1:${product}/graphql`,
    INVENTORY_URL: `http://127.0.0.1:${inventory}/graphql`,
  };
  const children: ChildProcess[] = [];
  const run = (entry: string) =>
    children.push(
      spawn(process.execPath, ["--import", "tsx", `${ROOT}${entry}`], { env: childEnv, cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] }),
    );
  run("subgraphs/product/src/main.ts");
  run("subgraphs/inventory/src/main.ts");
  await Promise.all([product, inventory].map((port) => waitFor(`http://127.0.0.1:${port}/health`)));
  run("router/src/main.ts");
  await waitFor(`http://127.0.0.1:${router}/health`);
  return {
    urls: { router: `http://127.0.0.1:${router}/graphql`, product: childEnv.PRODUCT_URL },
    productMetrics: `http://127.0.0.1:${product}/metrics`,
    /** Router first, so no request in flight meets a subgraph that is already gone. */
    stop: async () => {
      for (const child of children.reverse()) await new Promise((resolve) => (child.once("exit", resolve), child.kill("SIGTERM")));
    },
  };
}

/** Sum of the samples of a metric in Prometheus text whose labels contain `filter` and not `exclude`. */
async function metricSum(url: string, name: string, filter = "", exclude = "\u0000"): Promise<number> {
  const text = await (await fetch(url)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && line.includes(filter) && !line.includes(exclude))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

async function load(url: string, body: () => object, duration: number) {
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    requests: [
      { method: "POST", headers: { "content-type": "application/json" }, setupRequest: (req) => ({ ...req, body: JSON.stringify(body()) }) },
    ],
  });
}

/** Lets the requests still in flight when a run stops finish, so their queries land in the right run. */
function settle() {
  return new Promise((r) => setTimeout(r, 500));
}

async function measure(stack: Awaited<ReturnType<typeof startStack>>, target: "router" | "product", body: () => object) {
  await settle();
  // Queries requests caused; the Kafka cache refresh (operation="refresh") reads on its own account.
  const queries = () => metricSum(stack.productMetrics, "product_store_queries_total", "", 'operation="refresh"');
  const l1 = (result: string) => metricSum(stack.productMetrics, "cache_requests_total", `level="l1",result="${result}"`);
  const [q0, hit0, miss0] = [await queries(), await l1("hit"), await l1("miss")];
  const result = await load(stack.urls[target], body, DURATION);
  await settle();
  const [q1, hit1, miss1] = [await queries(), await l1("hit"), await l1("miss")];
  const total = result.requests.sent;
  const lookups = hit1 - hit0 + (miss1 - miss0);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    dbPerRequest: total > 0 ? (q1 - q0) / total : 0,
    l1HitRate: lookups > 0 ? (hit1 - hit0) / lookups : 0,
    errors: result.errors + result.non2xx,
  };
}

/** Per figure, the median over the rounds (p99 and throughput each on their own). */
function medianRun(runs: Run[]): Run {
  const median = (pick: (r: Run) => number) => {
    const sorted = runs.map(pick).sort((x, y) => x - y);
    return sorted[Math.floor(sorted.length / 2)]!;
  };
  return {
    rps: median((r) => r.rps),
    p50: median((r) => r.p50),
    p99: median((r) => r.p99),
    dbPerRequest: median((r) => r.dbPerRequest),
    l1HitRate: median((r) => r.l1HitRate),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
  };
}

function report(results: Row[]) {
  const lines = [
    `read path: ${CONNECTIONS} connections, median of ${ROUNDS} alternating ${DURATION} s runs per row, ${ids.length} products`,
    "",
    "| scenario | cache | req/s | p50 ms | p99 ms | product DB queries / request | L1 hit rate | errors |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
    ...results.map(
      (r) =>
        `| ${r.scenario} | ${r.cache} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.dbPerRequest.toFixed(3)} | ${(r.l1HitRate * 100).toFixed(1)}% | ${r.errors} |`,
    ),
    "",
  ];
  for (const scenario of Object.keys(SCENARIOS)) {
    const off = results.find((r) => r.scenario === scenario && r.cache === "off")!;
    const on = results.find((r) => r.scenario === scenario && r.cache === "on")!;
    lines.push(`${scenario}: throughput on/off = ${(on.rps / off.rps).toFixed(2)}x, p99 off/on = ${(off.p99 / Math.max(on.p99, 1)).toFixed(2)}x`);
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}
