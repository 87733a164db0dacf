import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import autocannon from "autocannon";
import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { freePort } from "../common/ports.ts";
import { signClientToken } from "../common/identity.ts";
import { SUBGRAPHS } from "../schema/compose.ts";
import { ROOT } from "../scripts/env.ts";
import { benchEnv, cpuMsOf, startPlatform, waitFor } from "./platform.ts";

// `npm run bench:gateways`: our router against stock @apollo/gateway and Hive Gateway, in one run, on the same
// subgraph processes and the same committed supergraph (schema/supergraph.graphql). Starts the platform once
// (bench/platform.ts: own database, production mode), a second router with ROUTER_EXECUTOR=executor when the
// config has that switch, and the two peers (bench/peer-gateway.ts, a process each, forwarding the router's
// signed identity). Creates a catalogue and signed-in buyers with orders through the router, checks that every
// peer answers each query exactly as the router does (and stops if one does not), then measures in interleaved
// rounds: per round, per query, every router in turn (the order rotating each round), BENCH_DURATION s each
// (default 8) at BENCH_CONNECTIONS (50), BENCH_ROUNDS rounds (3); each figure is the median over the rounds.
// Prints req/s, p50, p99 and router CPU per request per (router, query), and the ratios of our router(s) to both.
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
/**
 * Catalogue size. Requests cycle through the ids in order, so with more products than connections no two
 * `product(id)` requests in flight at once are the same (the executor shares identical subgraph fetches in flight).
 */
const PRODUCTS = Number(process.env.BENCH_PRODUCTS ?? 200);
/** Buyers for the 3-subgraph query: its requests rotate over them, below the router's per-user rate limit. */
const BUYERS = Number(process.env.BENCH_USERS ?? 200);
const ORDERS_PER_BUYER = 2;
const ITEMS_PER_ORDER = 3;
const log = createLogger("bench-gateways", "info");

const env = await benchEnv(log);
const config = loadConfig(env);
const hasExecutor = "ROUTER_EXECUTOR" in config;
// No expiry sweep: orders placed in setup stay RESERVED, so stock and the answers compared below hold still.
const platform = await startPlatform(env, { EXPIRY_SWEEP_INTERVAL_MS: "0", ...(hasExecutor ? { ROUTER_EXECUTOR: "gateway" } : {}) });
const subgraphUrls = Object.fromEntries(SUBGRAPHS.map((s) => [s.urlEnv, `http://127.0.0.1:${platform.ports[s.name]}/graphql`]));
const children: ChildProcess[] = [];

interface Target {
  name: string;
  url: string;
  /** CPU ms the target's process has used so far. */
  cpu: () => number;
}

/** A router or peer as a child process on a free port, with the platform's environment and subgraph URLs. */
async function spawnTarget(name: string, args: string[], extra: Record<string, string>): Promise<Target> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    env: { ...env, ...subgraphUrls, EXPIRY_SWEEP_INTERVAL_MS: "0", ...extra, PORT: String(port) },
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
  });
  children.push(child);
  process.on("exit", () => child.exitCode === null && child.kill("SIGKILL"));
  child.once("exit", (code, signal) => {
    if (!stopping) {
      log.error({ target: name, code, signal }, "exited during the bench");
      process.exit(1);
    }
  });
  return { name, url: `http://127.0.0.1:${port}/graphql`, cpu: () => cpuMsOf(child.pid!) };
}

let stopping = false;
async function stopAll() {
  stopping = true;
  await Promise.all(
    children.map(
      (child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : (child.once("exit", resolve), child.kill("SIGTERM")))),
    ),
  );
  await platform.stop();
}

const targets: Target[] = [{ name: hasExecutor ? "router (gateway)" : "router", url: platform.url, cpu: () => platform.cpu().router! }];
if (hasExecutor) targets.push(await spawnTarget("router (executor)", [`${ROOT}router/src/main.ts`], { ROUTER_EXECUTOR: "executor" }));
const ours = targets.map((t) => t.name);
targets.push(await spawnTarget("@apollo/gateway", [`${ROOT}bench/peer-gateway.ts`, "apollo"], {}));
targets.push(await spawnTarget("Hive Gateway", [`${ROOT}bench/peer-gateway.ts`, "hive"], {}));
const [stock, hive] = [targets.at(-2)!, targets.at(-1)!];
await Promise.all(targets.map((t) => waitForGraphQL(t.url)));

/** Waits until a router answers a query (the peers have no common health endpoint). */
async function waitForGraphQL(url: string) {
  await waitFor(url.replace(/\/graphql$/, "/health")).catch(() => undefined);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const response = await post(url, { query: "{ __typename }" });
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer { __typename } within 60 s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function post(url: string, body: object, token?: string) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: unknown[] } };
}

/** Through our router; setup sends faster than one user's rate limit allows, so RATE_LIMITED waits and retries. */
async function graphql(query: string, variables: Record<string, unknown>, token?: string): Promise<any> {
  const { body } = await post(platform.url, { query, variables }, token);
  const limited = (body.errors as { extensions?: { code?: string; retryAfterMs?: number } }[] | undefined)?.find(
    (e) => e.extensions?.code === "RATE_LIMITED",
  );
  if (limited) {
    await new Promise((r) => setTimeout(r, (limited.extensions?.retryAfterMs ?? 50) + 10));
    return graphql(query, variables, token);
  }
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

// Setup through our router: a catalogue, and buyers each with a few multi-item orders.
const admin = await signClientToken(config.JWT_SECRET, "bench-admin", ["admin"]);
const products: { id: string; priceCents: number; priceVersion: number }[] = [];
for (let n = 0; n < PRODUCTS; n++) {
  const input = {
    sku: `BENCH-GW-${randomUUID().slice(0, 8)}-${n}`,
    name: `Gateway bench item ${n}`,
    description: "",
    priceCents: 1_000 + n,
    currency: "USD",
    initialStock: 1_000_000,
  };
  const data = await graphql(
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id priceCents priceVersion } }`,
    { input },
    admin,
  );
  products.push(data.createProduct);
}
const tokens = await Promise.all(Array.from({ length: BUYERS }, (_, i) => signClientToken(config.JWT_SECRET, `bench-gw-buyer-${i}`)));
async function placeOrders(buyer: number) {
  for (let o = 0; o < ORDERS_PER_BUYER; o++) {
    const items = Array.from({ length: ITEMS_PER_ORDER }, (_, i) => {
      const p = products[(buyer * ORDERS_PER_BUYER * ITEMS_PER_ORDER + o * ITEMS_PER_ORDER + i) % products.length]!;
      return { productId: p.id, quantity: 1, expectedPriceCents: p.priceCents, priceVersion: p.priceVersion };
    });
    await graphql(
      `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
      { input: { idempotencyKey: randomUUID(), items } },
      tokens[buyer],
    );
  }
}
for (let start = 0; start < BUYERS; start += 10)
  await Promise.all(Array.from({ length: Math.min(10, BUYERS - start) }, (_, i) => placeOrders(start + i)));

interface Request {
  body: string;
  token?: string;
}
/** Each query with the requests it cycles through (ids over the catalogue, tokens over the buyers). */
const QUERIES: { name: string; requests: Request[] }[] = [
  {
    name: "products(first:20) + stock",
    requests: [{ body: JSON.stringify({ query: "{ products(first: 20) { nodes { id name priceCents stock { available } } } }" }) }],
  },
  {
    name: "product(id) + stock",
    requests: products.map((p) => ({
      body: JSON.stringify({ query: "query($id: ID!) { product(id: $id) { id name stock { available } } }", variables: { id: p.id } }),
    })),
  },
  {
    name: "myOrders, 3 subgraphs",
    requests: tokens.map((token) => ({
      body: JSON.stringify({ query: "{ myOrders { nodes { id items { product { name stock { available } } } } } }" }),
      token,
    })),
  },
  {
    name: "product(id), one subgraph",
    requests: products.map((p) => ({
      body: JSON.stringify({ query: "query($id: ID!) { product(id: $id) { id name priceCents } }", variables: { id: p.id } }),
    })),
  },
];

/** Every target must answer exactly as our router does (status and body), on a few requests of each query. */
async function checkAnswers() {
  const [reference, ...others] = targets;
  for (const { name, requests } of QUERIES) {
    for (const request of requests.slice(0, 3)) {
      const send = (t: Target) => post(t.url, JSON.parse(request.body) as object, request.token);
      const expected = await send(reference!);
      if (expected.status !== 200 || expected.body.errors || !expected.body.data) {
        throw new Error(`${reference!.name} failed on ${name}: ${expected.status} ${JSON.stringify(expected.body)}`);
      }
      for (const target of others) {
        const actual = await send(target);
        if (actual.status !== expected.status || !isDeepStrictEqual(actual.body, expected.body)) {
          throw new Error(
            `${target.name} answers ${name} differently from ${reference!.name}:\n` +
              `  expected ${expected.status} ${JSON.stringify(expected.body).slice(0, 600)}\n` +
              `  actual   ${actual.status} ${JSON.stringify(actual.body).slice(0, 600)}`,
          );
        }
      }
    }
  }
  const orders = (await post(platform.url, JSON.parse(QUERIES[2]!.requests[0]!.body) as object, tokens[0])).body.data.myOrders.nodes;
  if (orders.length !== ORDERS_PER_BUYER || orders[0].items.length !== ITEMS_PER_ORDER)
    throw new Error(`unexpected orders: ${JSON.stringify(orders)}`);
}

interface Run {
  rps: number;
  p50: number;
  p99: number;
  cpuMsPerRequest: number;
  errors: number;
}

async function load(url: string, requests: Request[], duration: number) {
  let next = 0;
  let errors = 0;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    requests: [
      {
        method: "POST",
        setupRequest: (req) => {
          const { body, token } = requests[next++ % requests.length]!;
          return { ...req, body, headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) } };
        },
        onResponse: (status, body) => {
          if (status !== 200 || body.includes('"errors"')) errors++;
        },
      },
    ],
  });
  return { result, errors: errors + result.errors + result.timeouts };
}

async function measure(target: Target, requests: Request[]): Promise<Run> {
  await new Promise((r) => setTimeout(r, 500)); // the previous run's requests in flight finish first
  const cpu0 = target.cpu();
  const { result, errors } = await load(target.url, requests, DURATION);
  const cpuMs = target.cpu() - cpu0;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMsPerRequest: cpuMs / Math.max(1, result.requests.total),
    errors,
  };
}

function median(runs: Run[]): Run {
  const mid = (pick: (r: Run) => number) => runs.map(pick).sort((x, y) => x - y)[Math.floor(runs.length / 2)]!;
  return {
    rps: mid((r) => r.rps),
    p50: mid((r) => r.p50),
    p99: mid((r) => r.p99),
    cpuMsPerRequest: mid((r) => r.cpuMsPerRequest),
    errors: runs.reduce((s, r) => s + r.errors, 0),
  };
}

function report(results: Map<string, Map<string, Run>>) {
  const fmt = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });
  const lines = [
    `gateways: ${CONNECTIONS} connections, median of ${ROUNDS} interleaved ${DURATION} s runs per row, ${PRODUCTS} products, ${BUYERS} buyers x ${ORDERS_PER_BUYER} orders x ${ITEMS_PER_ORDER} items`,
    "",
    "| query | router | req/s | p50 ms | p99 ms | router CPU ms/request | errors |",
    "|---|---|---:|---:|---:|---:|---:|",
  ];
  for (const { name } of QUERIES) {
    for (const target of targets) {
      const r = results.get(name)!.get(target.name)!;
      lines.push(`| ${name} | ${target.name} | ${fmt(r.rps)} | ${r.p50} | ${r.p99} | ${r.cpuMsPerRequest.toFixed(2)} | ${r.errors} |`);
    }
  }
  lines.push(
    "",
    "| query | router | req/s / @apollo/gateway | req/s / Hive | p99 / @apollo/gateway (< 1: lower) | p99 / Hive |",
    "|---|---|---:|---:|---:|---:|",
  );
  const ratio = (x: number, y: number) => `${(x / Math.max(y, 1e-9)).toFixed(2)}x`;
  for (const { name } of QUERIES) {
    const byTarget = results.get(name)!;
    for (const our of ours) {
      const [r, s, h] = [byTarget.get(our)!, byTarget.get(stock.name)!, byTarget.get(hive.name)!];
      lines.push(`| ${name} | ${our} | ${ratio(r.rps, s.rps)} | ${ratio(r.rps, h.rps)} | ${ratio(r.p99, s.p99)} | ${ratio(r.p99, h.p99)} |`);
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

let failed = false;
try {
  await checkAnswers();
  log.info({ targets: targets.map((t) => t.name), queries: QUERIES.length }, "every peer answers as the router does; warming up");
  for (const { requests } of QUERIES) for (const target of targets) await load(target.url, requests, WARMUP);
  const runs = new Map(QUERIES.map((q) => [q.name, new Map(targets.map((t) => [t.name, [] as Run[]]))]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const { name, requests } of QUERIES) {
      // Each round starts with a different router, so none always follows the same one.
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(i + round) % targets.length]!;
        runs
          .get(name)!
          .get(target.name)!
          .push(await measure(target, requests));
      }
    }
    log.info({ round: round + 1, of: ROUNDS }, "round done");
  }
  report(new Map([...runs].map(([query, byTarget]) => [query, new Map([...byTarget].map(([t, list]) => [t, median(list)]))])));
} catch (error) {
  failed = true;
  log.error({ err: error }, "bench:gateways failed");
} finally {
  await stopAll();
}
process.exit(failed ? 1 : 0);
