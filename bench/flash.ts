import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { createPrisma } from "../common/prisma.ts";
import { createRedis } from "../common/redis.ts";
import { IDENTITY_HEADER, signClientToken, signInternalIdentity } from "../common/identity.ts";
import { itemKeys } from "../common/orders/flash-keys.ts";
import { benchEnv, flashBenchServices, percentile, startPlatform } from "./platform.ts";
import { runOnClusterStack } from "./cluster.ts";

// bench:flash: flashPurchase through the router, then against the flash-sale subgraph directly, in one run
// on one platform (every service a process of its own), many distinct buyers, then a no-oversell check.
//
//   BENCH_CLUSTER=1   the same on the cluster stack (Redis Cluster, 3 brokers, HAProxy), with 1 and then 2
//                     instances of every service, side by side (bench/cluster.ts)
//   BENCH_ROUTER_URL, BENCH_SUBGRAPH_URL   a running platform's router and flash-sale subgraph (what BENCH_CLUSTER
//                     uses): no platform is started, and DATABASE_URL, REDIS_URL (or REDIS_CLUSTER_NODES),
//                     JWT_SECRET and INTERNAL_SECRET must be the ones it uses; BENCH_ROUTER_METRICS lists the
//                     routers' /metrics URLs (comma-separated) for the batching figure
if (process.env.BENCH_CLUSTER === "1") process.exit(await runOnClusterStack("flash"));
const DURATION = Number(process.env.BENCH_DURATION ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
// Rounds of (router, subgraph): on a shared 2-core machine one 15 s phase can be unlucky; rounds show the spread.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
// Enough units and buyers (perUserLimit 2) for every attempt of every round to be a purchase at up to 5,000
// attempts a second: a fixed 100,000 units sold out in a third round at 2,300/s, and refusals are cheaper.
const QUANTITY = Number(process.env.BENCH_QUANTITY ?? Math.max(100_000, 5_000 * DURATION * ROUNDS));
const USERS = Number(process.env.BENCH_USERS ?? Math.max(100_000, 2_500 * DURATION * ROUNDS));
const WARMUP = Number(process.env.BENCH_WARMUP ?? 10);
const log = createLogger("bench-flash", "info");

const TARGET = process.env.BENCH_ROUTER_URL;
if (TARGET && !process.env.BENCH_SUBGRAPH_URL) throw new Error("BENCH_ROUTER_URL needs BENCH_SUBGRAPH_URL (the flash-sale subgraph)");
const env = TARGET ? { ...process.env } : await benchEnv(log, flashBenchServices());
const config = loadConfig(env);
const platform = TARGET ? null : await startPlatform(env);
const routerUrl = TARGET ?? platform!.url;
const subgraphUrl = process.env.BENCH_SUBGRAPH_URL ?? `http://127.0.0.1:${platform!.ports["flash-sale"]}/graphql`;
const metricsUrls = process.env.BENCH_ROUTER_METRICS?.split(",") ?? (platform ? [`http://127.0.0.1:${platform.ports.router}/metrics`] : []);
const prisma = createPrisma(config.DATABASE_URL);
const redis = createRedis(config.REDIS_URL);

try {
  const admin = await signClientToken(config.JWT_SECRET, `bench-admin-${randomUUID()}`, ["admin"]);
  const call = async (query: string, variables: object) => {
    const res = await fetch(routerUrl, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${admin}` },
      body: JSON.stringify({ query, variables }),
    });
    const json = (await res.json()) as { data?: any; errors?: unknown };
    if (json.errors) throw new Error(JSON.stringify(json.errors));
    return json.data;
  };
  const product = async () =>
    (
      await call(`mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`, {
        input: {
          sku: `FLASH-${randomUUID().slice(0, 8)}`,
          name: "Bench drop",
          description: "bench:flash",
          priceCents: 10_000,
          currency: "USD",
          initialStock: QUANTITY * 2,
        },
      })
    ).createProduct.id as string;
  const [warm, viaRouter, direct] = [await product(), await product(), await product()];
  const sale = (
    await call(`mutation($input: CreateFlashSaleInput!) { createFlashSale(input: $input) { id } }`, {
      input: {
        name: "bench:flash",
        startsAt: new Date(Date.now() - 1_000).toISOString(),
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        perUserLimit: 2,
        items: [warm, viaRouter, direct].map((productId) => ({ productId, salePriceCents: 4_999, quantity: QUANTITY })),
      },
    })
  ).createFlashSale.id as string;

  log.info({ users: USERS }, "signing buyer tokens");
  const users = Array.from({ length: USERS }, (_, i) => `bench-buyer-${sale.slice(0, 8)}-${i}`);
  const bearer = await Promise.all(users.map((u) => signClientToken(config.JWT_SECRET, u)));

  // Each item's buyers are taken in turn across rounds, so every buyer reaches perUserLimit (2) only after
  // 2 x BENCH_USERS attempts on that item: restarting at the first buyer every round made a third round
  // measure PURCHASE_LIMIT_EXCEEDED refusals instead of purchases.
  const nextBuyer = new Map<string, number>();
  const runPhase = (name: string, url: string, productId: string, headersFor: (user: number) => Record<string, string>, duration: number) => {
    const latencies: number[] = [];
    const codes = new Map<string, number>();
    const starts = new WeakMap<object, number>();
    const query = `mutation($input: FlashPurchaseInput!) { flashPurchase(input: $input) { id status totalCents } }`;
    const cpuBefore = platform?.cpu();
    return new Promise<{
      name: string;
      rps: number;
      p50: number;
      p95: number;
      p99: number;
      codes: Map<string, number>;
      attempts: number;
      cpuPerAttempt: Record<string, number>;
    }>((resolve, reject) => {
      autocannon(
        {
          url,
          connections: CONNECTIONS,
          duration,
          requests: [
            {
              method: "POST",
              setupRequest: (req, context) => {
                const attempt = nextBuyer.get(productId) ?? 0;
                nextBuyer.set(productId, attempt + 1);
                const user = attempt % USERS;
                starts.set(context, performance.now());
                const input = { flashSaleId: sale, productId, quantity: 1, idempotencyKey: randomUUID() };
                return {
                  ...req,
                  headers: { "content-type": "application/json", ...headersFor(user) },
                  body: JSON.stringify({ query, variables: { input } }),
                };
              },
              onResponse: (status, body, context) => {
                latencies.push(performance.now() - (starts.get(context) ?? performance.now()));
                const code =
                  status !== 200
                    ? `HTTP_${status}`
                    : /"status":"RESERVED"/.test(body)
                      ? "RESERVED"
                      : (/"code":"([A-Z_]+)"/.exec(body)?.[1] ?? "UNKNOWN");
                codes.set(code, (codes.get(code) ?? 0) + 1);
              },
            },
          ],
        },
        (error, result) => {
          if (error) return reject(error);
          latencies.sort((a, b) => a - b);
          const attempts = latencies.length;
          const cpuAfter = platform?.cpu() ?? {};
          const cpuPerAttempt = Object.fromEntries(
            Object.keys(cpuAfter).map((k) => [k, (cpuAfter[k]! - (cpuBefore?.[k] ?? 0)) / Math.max(1, attempts)]),
          );
          resolve({
            name,
            rps: attempts / duration,
            p50: percentile(latencies, 50),
            p95: percentile(latencies, 95),
            p99: percentile(latencies, 99),
            codes,
            attempts: attempts + result.errors,
            cpuPerAttempt,
          });
        },
      );
    });
  };

  const routerHeaders = (user: number) => ({ authorization: `Bearer ${bearer[user]}` });
  // Every process warms up first (JIT, connection pools, consumer groups joined and caught up): a cold first
  // phase measured the platform's start, not its steady state.
  log.info({ seconds: WARMUP }, "warming up through the router");
  await runPhase("warm-up", routerUrl, warm, routerHeaders, WARMUP);
  // Operations and requests the routers sent to flash-sale so far (router_subgraph_batch_size on their /metrics).
  const batching = async () => {
    const texts = await Promise.all(metricsUrls.map(async (url) => (await fetch(url)).text()));
    const value = (series: string) =>
      texts.reduce(
        (sum, text) =>
          sum + Number(new RegExp(`^router_subgraph_batch_size_${series}\\{[^}]*subgraph="flash-sale"[^}]*\\} (\\S+)`, "m").exec(text)?.[1] ?? 0),
        0,
      );
    return { operations: value("sum"), requests: value("count") };
  };
  const perRequest: string[] = [];
  const rounds: Awaited<ReturnType<typeof runPhase>>[][] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    log.info({ round, duration: DURATION, connections: CONNECTIONS }, "through the router");
    const sentBefore = await batching();
    const viaRouterRun = await runPhase(ROUNDS > 1 ? `router #${round}` : "router", routerUrl, viaRouter, routerHeaders, DURATION);
    const sentAfter = await batching();
    perRequest.push(((sentAfter.operations - sentBefore.operations) / Math.max(1, sentAfter.requests - sentBefore.requests)).toFixed(1));
    // Direct calls carry what the router would forward: the identity signed with INTERNAL_SECRET (valid 60 s).
    const internal = users.map((u) => signInternalIdentity({ user: { id: u, roles: [], isAdmin: false } }, config.INTERNAL_SECRET));
    log.info({ round, duration: DURATION, connections: CONNECTIONS }, "flash-sale subgraph directly");
    const directRound = await runPhase(
      ROUNDS > 1 ? `subgraph #${round}` : "subgraph",
      subgraphUrl,
      direct,
      (user) => ({ [IDENTITY_HEADER]: internal[user]!, "x-client-ip": "127.0.0.1" }),
      DURATION,
    );
    rounds.push([viaRouterRun, directRound]);
  }
  const total = (runs: Awaited<ReturnType<typeof runPhase>>[]) => ({
    rps: runs.reduce((sum, r) => sum + r.rps, 0) / runs.length,
    reserved: runs.reduce((sum, r) => sum + (r.codes.get("RESERVED") ?? 0), 0),
  });
  const routed = total(rounds.map((r) => r[0]!));
  const directRun = total(rounds.map((r) => r[1]!));

  // No oversell: Redis never sold more than the quantity, and PostgreSQL agrees once the writer caught up.
  const verify = async (productId: string, reserved: number) => {
    const [sold, remaining] = (await redis.hmget(itemKeys(sale, productId).item, "sold", "remaining")).map(Number) as [number, number];
    const pgSold = async () =>
      (
        await prisma.$queryRaw<{ units: number }[]>`
        SELECT coalesce(sum(i.quantity), 0)::int AS units FROM orders o JOIN order_items i ON i.order_id = o.id
        WHERE o.flash_sale_id = ${sale}::uuid AND i.product_id = ${productId}::uuid AND o.status NOT IN ('CANCELLED', 'EXPIRED')`
      )[0]!.units;
    const started = Date.now();
    let pg = await pgSold();
    while (pg < sold && Date.now() - started < 60_000) pg = await new Promise((r) => setTimeout(r, 250)).then(pgSold);
    return {
      redisSold: sold,
      remaining,
      pgSold: pg,
      buyersTold: reserved,
      catchUpMs: Date.now() - started,
      ok: sold <= QUANTITY && sold + remaining === QUANTITY && pg === sold && reserved <= sold && sold <= reserved + CONNECTIONS * ROUNDS,
    };
  };
  const checks = { router: await verify(viaRouter, routed.reserved), subgraph: await verify(direct, directRun.reserved) };

  const fmt = (n: number) => n.toFixed(1);
  console.log(`\nbench:flash  ${CONNECTIONS} connections, ${DURATION} s per target, ${USERS} buyers, ${QUANTITY} units per item, perUserLimit 2`);
  console.log(`sale rate limit ${env.FLASH_SALE_RATE}/s, per-IP limit ${env.FLASH_IP_RATE}/s, ${config.KAFKA_PARTITIONS} partitions\n`);
  console.log("target       attempts/s   p50 ms   p95 ms   p99 ms   answers");
  for (const r of rounds.flat()) {
    const answers = [...r.codes]
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(", ");
    console.log(
      `${r.name.padEnd(12)} ${fmt(r.rps).padStart(10)} ${fmt(r.p50).padStart(8)} ${fmt(r.p95).padStart(8)} ${fmt(r.p99).padStart(8)}   ${answers}`,
    );
  }
  console.log(`\nrouter / subgraph throughput: ${(routed.rps / directRun.rps).toFixed(2)}`);
  console.log(`operations per router request to flash-sale (subgraph batching): ${perRequest.join(", ")}`);
  if (platform) console.log("\nCPU ms per attempt (2 cores = 2,000 ms of CPU per second):");
  for (const r of platform ? rounds.flat() : []) {
    const cpu = Object.values(r.cpuPerAttempt).reduce((a, b) => a + b, 0);
    const parts = Object.entries(r.cpuPerAttempt)
      .sort((a, b) => b[1] - a[1])
      .filter(([, ms]) => ms >= 0.005)
      .map(([k, ms]) => `${k} ${ms.toFixed(2)}`)
      .join(", ");
    console.log(`${r.name.padEnd(12)} total ${cpu.toFixed(2)}: ${parts}`);
  }
  for (const [name, c] of Object.entries(checks)) {
    console.log(
      `no oversell (${name}): Redis sold ${c.redisSold} + remaining ${c.remaining} = ${QUANTITY}? sold <= quantity? PostgreSQL ${c.pgSold} after ${c.catchUpMs} ms; buyers told RESERVED ${c.buyersTold} (+ up to ${CONNECTIONS * ROUNDS} answers in flight at the stops) -> ${c.ok ? "OK" : "FAILED"}`,
    );
  }
  process.exitCode = Object.values(checks).every((c) => c.ok) ? 0 : 1;
} finally {
  await platform?.stop();
  redis.disconnect();
  await prisma.$disconnect();
}
