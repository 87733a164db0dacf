import { rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { createPrisma } from "../common/prisma.ts";
import { createRedis } from "../common/redis.ts";
import { stockKey } from "../common/stock.ts";
import { signClientToken } from "../common/identity.ts";
import { benchEnv, percentile, startPlatform } from "./platform.ts";
import { runOnClusterStack } from "./cluster.ts";

// BENCH_CLUSTER=1: the same scenarios on the cluster stack (Redis Cluster, 3 brokers, HAProxy) with 1 and then 2
// instances of every service, side by side; bench/cluster.ts runs this file against HAProxy (BENCH_ROUTER_URL).
if (process.env.BENCH_CLUSTER === "1") process.exit(await runOnClusterStack("orders"));

// `npm run bench:orders`: placeOrder through the router at BENCH_CONNECTIONS (50) concurrent connections for
// BENCH_DURATION s (20) per scenario, every request a distinct idempotency key, buyers spread over BENCH_USERS
// (20 000) users, in one run with a one-subgraph read (`product(id) { id name priceCents }`, the router's
// pass-through) as the yardstick: the read, one hot product (every order the same product), and multi-item orders
// over BENCH_HOT_PRODUCTS (3) hot products (every order one unit of each). Starts the platform as separate
// processes against the bench database (bench/platform.ts) unless BENCH_ROUTER_URL names a running router (then
// DATABASE_URL/REDIS_URL must be the ones it uses). Reports throughput, latency percentiles, outcomes by error
// code, the ratio of orders to reads, and checks the stock invariants at the end.
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION ?? 20);
const USERS = Number(process.env.BENCH_USERS ?? 20_000);
const STOCK = Number(process.env.BENCH_STOCK ?? 1_000_000);
const HOT = Number(process.env.BENCH_HOT_PRODUCTS ?? 3);
const TARGET = process.env.BENCH_ROUTER_URL;
const log = createLogger("bench-orders", "info");

const mailDir = path.join(os.tmpdir(), `flashgraph-bench-mail-${process.pid}`);
const env = TARGET ? { ...process.env } : await benchEnv(log);
const config = loadConfig(env);
// No expiry sweeps during the run: orders of earlier runs lapse in this database, and expiring them is not
// the work being measured (mail, payments consumers and the outbox relay do run, as in production).
const platform = TARGET ? null : await startPlatform(env, { MAIL_DIR: mailDir, EXPIRY_SWEEP_INTERVAL_MS: "0" });
const url = TARGET ?? platform!.url;

async function graphql(query: string, variables: Record<string, unknown>, token: string) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const admin = await signClientToken(config.JWT_SECRET, "bench-admin", ["admin"]);
async function createProduct(n: number) {
  const { createProduct: created } = await graphql(
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id priceCents priceVersion } }`,
    {
      input: {
        sku: `BENCH-ORD-${randomUUID().slice(0, 8)}-${n}`,
        name: `Order bench item ${n}`,
        description: "",
        priceCents: 1_500,
        currency: "USD",
        initialStock: STOCK,
      },
    },
    admin,
  );
  return created as { id: string; priceCents: number; priceVersion: number };
}
const products: Awaited<ReturnType<typeof createProduct>>[] = [];
for (let n = 0; n < Math.max(1, HOT); n++) products.push(await createProduct(n));
const product = products[0]!;
const tokens = await Promise.all(Array.from({ length: USERS }, (_, i) => signClientToken(config.JWT_SECRET, `bench-buyer-${i}`)));
const runId = randomUUID().slice(0, 8);
const PLACE = `mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }`;
const READ = `query Read($id: ID!) { product(id: $id) { id name priceCents } }`;
const line = (p: (typeof products)[number]) => ({ productId: p.id, quantity: 1, expectedPriceCents: p.priceCents, priceVersion: p.priceVersion });

type Scenario = { name: string; kind: "read" } | { name: string; kind: "order"; lines: ReturnType<typeof line>[] };
const scenarios: Scenario[] = [
  { name: "product(id), one subgraph", kind: "read" },
  { name: "placeOrder, 1 hot product", kind: "order", lines: [line(product)] },
  ...(products.length > 1
    ? [{ name: `placeOrder, ${products.length} items over ${products.length} hot products`, kind: "order" as const, lines: products.map(line) }]
    : []),
];
let sequence = 0;

interface Tally {
  latencies: number[];
  outcomes: Record<string, number>;
}

function classify(status: number, body: string): string {
  if (status !== 200) return `HTTP_${status}`;
  try {
    const parsed = JSON.parse(body) as {
      data?: { placeOrder?: { status: string }; product?: { id: string } };
      errors?: { extensions?: { code?: string } }[];
    };
    const ok = parsed.data?.placeOrder?.status === "RESERVED" || parsed.data?.product?.id === product.id;
    return parsed.errors?.[0]?.extensions?.code ?? (ok ? "ok" : "UNEXPECTED");
  } catch {
    return "UNPARSABLE";
  }
}

/** One autocannon run; every request gets the next key and the next user, and is timed from send to answer. */
async function fire(scenario: Scenario, connections: number, duration: number): Promise<{ tally: Tally; result: autocannon.Result }> {
  const tally: Tally = { latencies: [], outcomes: {} };
  const result = await autocannon({
    url,
    connections,
    duration,
    method: "POST",
    headers: { "content-type": "application/json" },
    requests: [
      {
        setupRequest: (request, context) => {
          const n = sequence++;
          (context as { sentAt?: number }).sentAt = performance.now();
          const body =
            scenario.kind === "read"
              ? { query: READ, variables: { id: product.id } }
              : { query: PLACE, variables: { input: { idempotencyKey: `${runId}-${n}`, items: scenario.lines } } };
          return { ...request, headers: { ...request.headers, authorization: `Bearer ${tokens[n % USERS]}` }, body: JSON.stringify(body) };
        },
        onResponse: (status, body, context) => {
          tally.latencies.push(performance.now() - ((context as { sentAt?: number }).sentAt ?? performance.now()));
          const outcome = classify(status, body);
          tally.outcomes[outcome] = (tally.outcomes[outcome] ?? 0) + 1;
        },
      },
    ],
  });
  return { tally, result };
}

interface Measured {
  scenario: Scenario;
  tally: Tally;
  result: autocannon.Result;
  /** CPU ms each process used during the measured run (when this run started the platform). */
  cpu?: Record<string, number>;
}
const measured: Measured[] = [];
let reservedByBench = 0;
let answeredAll = 0;
for (const scenario of scenarios) {
  log.info({ url, scenario: scenario.name, connections: CONNECTIONS, duration: DURATION }, "warming up (3 s, 10 connections), then measuring");
  const warmup = await fire(scenario, 10, 3);
  const cpuBefore = platform?.cpu();
  const run = await fire(scenario, CONNECTIONS, DURATION);
  const cpuAfter = platform?.cpu();
  const cpu = cpuBefore && cpuAfter ? Object.fromEntries(Object.keys(cpuAfter).map((k) => [k, cpuAfter[k]! - (cpuBefore[k] ?? 0)])) : undefined;
  measured.push({ scenario, ...run, cpu });
  answeredAll += warmup.tally.latencies.length + run.tally.latencies.length;
  if (scenario.kind === "order") reservedByBench += (warmup.tally.outcomes.ok ?? 0) + (run.tally.outcomes.ok ?? 0);
}

// The invariants, once the requests autocannon cut off at the deadline have finished on the server and the stock
// aggregator has folded the journal: nothing created or lost, every unit held belongs to a RESERVED order, and Redis
// agrees with PostgreSQL's stock rows.
const unanswered = sequence - answeredAll;
const prisma = createPrisma(config.DATABASE_URL);
const redis = createRedis(config.REDIS_URL);
const ids = products.map((p) => p.id);
async function snapshot() {
  const rows = await prisma.stock.findMany({ where: { productId: { in: ids } } });
  const held = await prisma.$queryRaw<{ product_id: string; quantity: bigint }[]>`
    SELECT i.product_id::text, sum(i.quantity) AS quantity FROM order_items i JOIN orders o ON o.id = i.order_id
    WHERE i.product_id = ANY(${ids}::uuid[]) AND o.status IN ('RESERVED', 'PAID') GROUP BY i.product_id`;
  const [counts] = await prisma.$queryRaw<{ orders: bigint; moves: bigint }[]>`
    SELECT (SELECT count(DISTINCT o.id) FROM orders o JOIN order_items i ON i.order_id = o.id
            WHERE i.product_id = ANY(${ids}::uuid[]) AND o.status IN ('RESERVED', 'PAID')) AS orders,
           (SELECT count(*) FROM stock_moves WHERE product_id = ANY(${ids}::uuid[])) AS moves`;
  const live = await Promise.all(ids.map(async (id) => (await redis.hmget(stockKey(id), "available", "reserved", "sold")).map(Number)));
  return {
    rows: new Map(rows.map((r) => [r.productId, r])),
    held: new Map(held.map((h) => [h.product_id, Number(h.quantity)])),
    orders: Number(counts?.orders ?? 0),
    pendingMoves: Number(counts?.moves ?? 0),
    live: new Map(ids.map((id, i) => [id, live[i]!])),
  };
}
let state = await snapshot();
for (let i = 0; i < 30; i++) {
  await new Promise((r) => setTimeout(r, 500));
  const next = await snapshot();
  const settled = next.orders === state.orders && next.pendingMoves === 0;
  state = next;
  if (settled) break;
}
const every = (check: (row: { available: number; reserved: number; sold: number }, id: string) => boolean) =>
  ids.every((id) => state.rows.has(id) && check(state.rows.get(id)!, id));
const checks = {
  "stock journal folded into the rows": state.pendingMoves === 0,
  "available + reserved + sold unchanged": every((r) => r.available + r.reserved + r.sold === STOCK),
  "reserved == quantity of RESERVED/PAID orders": every((r, id) => r.reserved === (state.held.get(id) ?? 0)),
  "Redis counters == PostgreSQL counters": every((r, id) => {
    const [a, res, sold] = state.live.get(id)!;
    return a === r.available && res === r.reserved && sold === r.sold;
  }),
  [`orders == successful answers (+ up to ${unanswered} cut off at the deadline)`]:
    state.orders >= reservedByBench && state.orders <= reservedByBench + unanswered,
};
await prisma.$disconnect();
redis.disconnect();
await platform?.stop();
rmSync(mailDir, { recursive: true, force: true });

const ms = (v: number | undefined) => (v ?? 0).toFixed(1);
const rate = (m: Measured) => (m.scenario.kind === "read" ? m.tally.latencies.length : (m.tally.outcomes.ok ?? 0)) / DURATION;
const readRate = rate(measured[0]!);
const rows = measured.map((m) => {
  const sorted = [...m.tally.latencies].sort((a, b) => a - b);
  const perSecond = rate(m);
  return `| ${m.scenario.name} | ${perSecond.toFixed(0)} | ${ms(percentile(sorted, 50))} | ${ms(percentile(sorted, 95))} | ${ms(percentile(sorted, 99))} | ${(perSecond / readRate).toFixed(2)}x | ${JSON.stringify(m.tally.outcomes)} (transport errors ${m.result.errors}, timeouts ${m.result.timeouts}) |`;
});
// CPU per request of each busy process (ms, user + system over the measured run): what a change to the path costs
// or saves, which the shared machine's load moves much less than throughput.
const cpuRows = measured.map((m) => {
  const answered = m.tally.latencies.length || 1;
  const busy = Object.entries(m.cpu ?? {}).filter(([, used]) => used >= 100 * DURATION);
  return `${m.scenario.name}: CPU ms per request ${busy.map(([name, used]) => `${name} ${(used / answered).toFixed(3)}`).join(", ")}`;
});
const invariantOk = Object.values(checks).every(Boolean);
process.stdout.write(
  [
    "",
    `Through the router: ${CONNECTIONS} connections, ${DURATION} s per scenario, ${os.cpus().length} cores (load average ${os.loadavg()[0]!.toFixed(2)})`,
    "",
    "| scenario | per s (reads, or orders reserved) | p50 ms | p95 ms | p99 ms | / read | outcomes |",
    "|---|---:|---:|---:|---:|---:|---|",
    ...rows,
    "",
    ...(platform ? cpuRows : []),
    "",
    ...ids.map((id) => {
      const r = state.rows.get(id);
      return `stock ${id.slice(0, 8)}: available ${r?.available}, reserved ${r?.reserved}, sold ${r?.sold} (initial ${STOCK})`;
    }),
    `${state.orders} open orders; ${reservedByBench} answered RESERVED incl. warm-up`,
    ...Object.entries(checks).map(([name, ok]) => `invariant:   ${ok ? "ok  " : "FAIL"} ${name}`),
    "",
  ].join("\n"),
);
process.exit(invariantOk ? 0 : 1);
