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

// `npm run bench:orders`: placeOrder through the router at BENCH_CONNECTIONS (50) concurrent connections for
// BENCH_DURATION s (20), every request a distinct idempotency key, buyers spread over BENCH_USERS (20 000)
// users. Starts the platform as separate processes against the bench database (bench/platform.ts) unless
// BENCH_ROUTER_URL names a running router (then DATABASE_URL/REDIS_URL must be the ones it uses). Reports
// throughput, latency percentiles, outcomes by error code, and checks the stock invariant at the end.
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION ?? 20);
const USERS = Number(process.env.BENCH_USERS ?? 20_000);
const STOCK = Number(process.env.BENCH_STOCK ?? 1_000_000);
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
const { createProduct: product } = await graphql(
  `mutation($input: CreateProductInput!) { createProduct(input: $input) { id priceCents priceVersion } }`,
  {
    input: {
      sku: `BENCH-ORD-${randomUUID().slice(0, 8)}`,
      name: "Order bench item",
      description: "",
      priceCents: 1_500,
      currency: "USD",
      initialStock: STOCK,
    },
  },
  admin,
);
const tokens = await Promise.all(Array.from({ length: USERS }, (_, i) => signClientToken(config.JWT_SECRET, `bench-buyer-${i}`)));
const runId = randomUUID().slice(0, 8);
const PLACE = `mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }`;
let sequence = 0;

interface Tally {
  latencies: number[];
  outcomes: Record<string, number>;
}

function classify(status: number, body: string): string {
  if (status !== 200) return `HTTP_${status}`;
  try {
    const parsed = JSON.parse(body) as { data?: { placeOrder?: { status: string } }; errors?: { extensions?: { code?: string } }[] };
    return parsed.errors?.[0]?.extensions?.code ?? (parsed.data?.placeOrder?.status === "RESERVED" ? "ok" : "UNEXPECTED");
  } catch {
    return "UNPARSABLE";
  }
}

/** One autocannon run; every request gets the next key and the next user, and is timed from send to answer. */
async function fire(connections: number, duration: number): Promise<{ tally: Tally; result: autocannon.Result }> {
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
          const input = {
            idempotencyKey: `${runId}-${n}`,
            items: [{ productId: product.id, quantity: 1, expectedPriceCents: product.priceCents, priceVersion: product.priceVersion }],
          };
          return {
            ...request,
            headers: { ...request.headers, authorization: `Bearer ${tokens[n % USERS]}` },
            body: JSON.stringify({ query: PLACE, variables: { input } }),
          };
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

log.info({ url, connections: CONNECTIONS, duration: DURATION }, "warming up (3 s, 10 connections)");
const warmup = await fire(10, 3);
log.info("measuring");
const { tally, result } = await fire(CONNECTIONS, DURATION);
const reservedByBench = (warmup.tally.outcomes.ok ?? 0) + (tally.outcomes.ok ?? 0);

// The invariant, once the requests autocannon cut off at the deadline have finished on the server: nothing
// created or lost, every unit held belongs to a RESERVED order, and Redis agrees with PostgreSQL.
const unanswered = sequence - warmup.tally.latencies.length - tally.latencies.length;
const prisma = createPrisma(config.DATABASE_URL);
const redis = createRedis(config.REDIS_URL);
async function snapshot() {
  const stock = await prisma.stock.findUniqueOrThrow({ where: { productId: product.id } });
  const [held] = await prisma.$queryRaw<{ quantity: bigint | null; orders: bigint }[]>`
    SELECT sum(i.quantity) AS quantity, count(*) AS orders FROM order_items i JOIN orders o ON o.id = i.order_id
    WHERE i.product_id = ${product.id}::uuid AND o.status IN ('RESERVED', 'PAID')`;
  const live = (await redis.hmget(stockKey(product.id), "available", "reserved", "sold")).map(Number);
  return { stock, heldUnits: Number(held?.quantity ?? 0), orders: Number(held?.orders ?? 0), live };
}
let state = await snapshot();
for (let i = 0; i < 30; i++) {
  await new Promise((r) => setTimeout(r, 500));
  const next = await snapshot();
  const settled = next.orders === state.orders && next.live[1] === next.stock.reserved;
  state = next;
  if (settled) break;
}
const { stock, heldUnits, orders, live } = state;
const checks = {
  "available + reserved + sold unchanged": stock.available + stock.reserved + stock.sold === STOCK,
  "reserved == quantity of RESERVED/PAID orders": stock.reserved === heldUnits,
  "Redis counters == PostgreSQL counters": live[0] === stock.available && live[1] === stock.reserved && live[2] === stock.sold,
  [`orders == successful answers (+ up to ${unanswered} cut off at the deadline)`]:
    orders >= reservedByBench && orders <= reservedByBench + unanswered,
};
await prisma.$disconnect();
redis.disconnect();
await platform?.stop();
rmSync(mailDir, { recursive: true, force: true });

const sorted = [...tally.latencies].sort((a, b) => a - b);
const answered = tally.latencies.length;
const ms = (v: number | undefined) => `${(v ?? 0).toFixed(1)} ms`;
const invariantOk = Object.values(checks).every(Boolean);
process.stdout.write(
  [
    "",
    `placeOrder through the router: ${CONNECTIONS} connections, ${DURATION} s, ${os.cpus().length} cores (load average ${os.loadavg()[0]!.toFixed(2)})`,
    `throughput:  ${(answered / DURATION).toFixed(0)} requests/s answered, ${((tally.outcomes.ok ?? 0) / DURATION).toFixed(0)} orders/s reserved (${answered} requests)`,
    `latency:     p50 ${ms(percentile(sorted, 50))}  p95 ${ms(percentile(sorted, 95))}  p99 ${ms(percentile(sorted, 99))}  max ${ms(sorted.at(-1))}`,
    `outcomes:    ${JSON.stringify(tally.outcomes)}  (transport errors ${result.errors}, timeouts ${result.timeouts})`,
    `stock:       available ${stock.available}, reserved ${stock.reserved}, sold ${stock.sold} (initial ${STOCK}); ${orders} orders, ${reservedByBench} answered ok incl. warm-up`,
    ...Object.entries(checks).map(([name, ok]) => `invariant:   ${ok ? "ok  " : "FAIL"} ${name}`),
    "",
  ].join("\n"),
);
process.exit(invariantOk ? 0 : 1);
