import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { createPrisma } from "../../common/prisma.ts";
import { createRedis } from "../../common/redis.ts";
import { createClusterStack, freeLayout, type ClusterStack } from "../../scripts/cluster-stack.ts";
import { PIN_HEADER } from "../../scripts/haproxy.ts";
import { SERVICE_NAMES } from "../../scripts/services.ts";
import { adminToken, codeOf, config, gql, logger, token, type GraphQLResponse } from "../harness.ts";
import { createProduct, line, orderInput, PLACE_ORDER } from "../orders.ts";
import { pgStock, redisStock } from "../stock.ts";
import { received } from "../wait.ts";
import { eventually } from "./support.ts";
import { priceOf, readMetric, setPriceVia } from "../../subgraphs/product/test/support.ts";
import { createSale, pgSold, purchaseInput, PURCHASE, redisSold, SALE } from "../../subgraphs/flash-sale/test/support.ts";

// The platform as `npm run start:cluster` runs it (scripts/cluster-stack.ts, the same code): two instances of every
// subgraph and router, HAProxy in front of the routers and of each subgraph's pair, on the Redis Cluster and the
// 3-broker Kafka `npm run test:cluster` started. Every request goes through HAProxy; `x-flashgraph-server: router-2`
// makes HAProxy hand it to that router, so a test can say which router a buyer or a subscriber used.
let stack: ClusterStack;
let admin: string;
const prisma = createPrisma(config.DATABASE_URL, { poolSize: 3 });
const redis = createRedis(config.REDIS_URL);
const clients: Client[] = [];
const mailDir = mkdtempSync(path.join(tmpdir(), "flashgraph-cluster-mail-"));
const haproxyDir = mkdtempSync(path.join(tmpdir(), "flashgraph-cluster-haproxy-"));

beforeAll(async () => {
  if (!process.env.REDIS_CLUSTER_NODES) throw new Error("REDIS_CLUSTER_NODES is not set: run this file with `npm run test:cluster`");
  const env = {
    ...process.env,
    LOG_LEVEL: config.LOG_LEVEL === "silent" ? "warn" : config.LOG_LEVEL,
    PAYMENT_LATENCY_MS: "20",
    MAIL_DIR: mailDir,
    // Every buyer of this file comes from 127.0.0.1 (HAProxy forwards it); the per-address limit is not under test.
    FLASH_IP_RATE: "1000",
    // The cluster has one database for every file: this file's cache keys and channel are its own.
    CACHE_KEY_PREFIX: `test:${randomUUID()}:`,
  };
  stack = createClusterStack({ env, logger, layout: await freeLayout(2), dir: haproxyDir, output: "capture", healthTimeoutMs: 240_000 });
  await stack.start();
  admin = await adminToken();
}, 300_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await stack?.stop();
  redis.disconnect();
  await prisma.$disconnect();
  rmSync(mailDir, { recursive: true, force: true });
  rmSync(haproxyDir, { recursive: true, force: true });
}, 60_000);

/** Every process's last output, for the message of a failed step. */
const outputs = () =>
  [
    ...stack.instances.flatMap((instance, i) => SERVICE_NAMES.map((name) => `--- ${name}-${i + 1}\n${instance.output(name).slice(-1_500)}`)),
    `--- haproxy\n${stack.haproxyOutput().slice(-1_500)}`,
  ].join("\n");

/** An operation sent to HAProxy's router frontend, pinned to one router when `server` is given. */
const via =
  (server?: "router-1" | "router-2") =>
  (query: string, variables: Record<string, unknown> = {}, opts: { token?: string } = {}): Promise<GraphQLResponse> =>
    gql(stack.routerUrl, query, variables, { token: opts.token, headers: server ? { [PIN_HEADER]: server } : {} });

const sessionsOf = async (server: string) => (await stack.servers()).find((s) => s.server === server)!.sessions;

test("HAProxy sees both instances of every service UP", async () => {
  const servers = await stack.servers();
  expect(servers.map((s) => `${s.backend}/${s.server} ${s.status}`).sort()).toEqual(
    SERVICE_NAMES.flatMap((name) => [`${name}/${name}-1 UP`, `${name}/${name}-2 UP`]).sort(),
  );
});

test("2N buyers of a product with N units, through both routers at once: exactly N orders RESERVED, Redis equals PostgreSQL", async () => {
  const units = 12;
  const product = await createProduct(via(), admin, units);
  const before = await Promise.all(["router-1", "router-2", "order-1", "order-2"].map(sessionsOf));
  const results = await Promise.all(
    Array.from({ length: 2 * units }, async (_, i) =>
      via(i % 2 ? "router-2" : "router-1")(PLACE_ORDER, { input: orderInput([line(product, 1)]) }, { token: await token(`buyer-${randomUUID()}`) }),
    ),
  );
  const reserved = results.filter((r) => r.data?.placeOrder?.status === "RESERVED");
  const refused = results.filter((r) => r.errors);
  if (reserved.length + refused.length !== results.length) throw new Error(`unexpected answers: ${JSON.stringify(results)}\n${outputs()}`);
  expect(reserved).toHaveLength(units);
  expect(refused.map(codeOf)).toEqual(Array(units).fill("OUT_OF_STOCK"));
  expect(await prisma.order.count({ where: { status: "RESERVED", items: { some: { productId: product.id } } } })).toBe(units);

  const expected = { available: 0, reserved: units, sold: 0 };
  expect(await redisStock(redis, product.id)).toEqual(expected);
  await eventually(
    async () => JSON.stringify(await pgStock(prisma, product.id)) === JSON.stringify(expected),
    10_000,
    "PostgreSQL to hold Redis's counts",
  );
  // Both routers took buyers, and HAProxy spread their calls over both order instances.
  const after = await Promise.all(["router-1", "router-2", "order-1", "order-2"].map(sessionsOf));
  after.forEach((count, i) => expect(count).toBeGreaterThan(before[i]!));
}, 60_000);

test("the same idempotency key sent to both routers at once makes one order", async () => {
  const product = await createProduct(via(), admin, 10);
  const user = `buyer-${randomUUID()}`;
  const buyer = await token(user);
  const input = orderInput([line(product, 2)]);
  const results = await Promise.all(
    Array.from({ length: 6 }, (_, i) => via(i % 2 ? "router-2" : "router-1")(PLACE_ORDER, { input }, { token: buyer })),
  );
  const ids = results.map((r) => {
    if (r.errors) throw new Error(`${JSON.stringify(r.errors)}\n${outputs()}`);
    return r.data!.placeOrder.id as string;
  });
  expect(new Set(ids).size).toBe(1);
  expect(await prisma.order.count({ where: { userId: user, idempotencyKey: input.idempotencyKey } })).toBe(1);
  expect(await redisStock(redis, product.id)).toEqual({ available: 8, reserved: 2, sold: 0 });
}, 60_000);

test("a flash crowd through both routers: 2N buyers of an item with N units, exactly N purchases, written once each", async () => {
  const units = 10;
  const product = await createProduct(via(), admin, 2 * units);
  const sale = await createSale(via(), admin, [{ productId: product.id, quantity: units, salePriceCents: 500 }], {
    startsAt: new Date(Date.now() + 1_500).toISOString(),
  });
  await eventually(async () => (await via()(SALE, { id: sale.id })).data?.flashSale?.state === "ACTIVE", 15_000, "the sale to start");
  const results = await Promise.all(
    Array.from({ length: 2 * units }, async (_, i) =>
      via(i % 2 ? "router-2" : "router-1")(
        PURCHASE,
        { input: purchaseInput(sale.id, product.id, 1) },
        { token: await token(`crowd-${randomUUID()}`) },
      ),
    ),
  );
  const bought = results.filter((r) => r.data?.flashPurchase?.status === "RESERVED");
  const refused = results.filter((r) => r.errors);
  if (bought.length + refused.length !== results.length) throw new Error(`unexpected answers: ${JSON.stringify(results)}\n${outputs()}`);
  expect(bought).toHaveLength(units);
  expect(refused.map(codeOf)).toEqual(Array(units).fill("OUT_OF_STOCK"));
  expect(await redisSold(redis, sale.id, product.id)).toBe(units);
  // The order writers of both order instances share one consumer group: each purchase becomes one order.
  await eventually(async () => (await pgSold(prisma, sale.id, product.id)) === units, 30_000, "PostgreSQL to hold the N flash orders");
  expect(await prisma.order.count({ where: { flashSaleId: sale.id } })).toBe(units);
}, 90_000);

/** graphql-ws through HAProxy, the upgrade pinned to one router. */
function wsClient(server: string) {
  class Pinned extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { headers: { [PIN_HEADER]: server } });
    }
  }
  const client = createClient({ url: stack.routerUrl.replace(/^http/, "ws"), webSocketImpl: Pinned, retryAttempts: 0, lazy: true });
  clients.push(client);
  return client;
}

const STOCK_CHANGED = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { available } }`;

test("a stockChanged subscriber on router 1 (WebSocket) and one on router 2 (multipart) see an order placed through router 2", async () => {
  const product = await createProduct(via(), admin, 9);
  const overWs = received<any>("stockChanged over WebSocket on router-1");
  const stopWs = wsClient("router-1").subscribe(
    { query: STOCK_CHANGED, variables: { ids: [product.id] } },
    { next: (r) => overWs.push(r), error: (e) => overWs.end(`failed with ${JSON.stringify(e)}`), complete: () => overWs.end("completed") },
  );
  // Multipart: one long HTTP response through HAProxy, parts written as changes come.
  const abort = new AbortController();
  const response = await fetch(stack.routerUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: 'multipart/mixed;subscriptionSpec="1.0", application/json', [PIN_HEADER]: "router-2" },
    body: JSON.stringify({ query: STOCK_CHANGED, variables: { ids: [product.id] } }),
    signal: abort.signal,
  });
  expect(response.headers.get("content-type")).toContain("multipart/mixed");
  const reader = response.body!.getReader();
  let multipart = "";
  const readUntil = async (text: string) => {
    while (!multipart.includes(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`multipart response ended before ${text}: ${multipart}`);
      multipart += new TextDecoder().decode(value);
    }
  };
  try {
    expect((await overWs.first(20_000)).data.stockChanged.available).toBe(9);
    await readUntil('"available":9');

    const placed = await via("router-2")(PLACE_ORDER, { input: orderInput([line(product, 2)]) }, { token: await token(`buyer-${randomUUID()}`) });
    if (placed.errors) throw new Error(`${JSON.stringify(placed.errors)}\n${outputs()}`);
    await overWs.waitFor((r) => r.data?.stockChanged.available === 7, 30_000);
    await readUntil('"available":7');
  } finally {
    stopWs();
    abort.abort();
  }
}, 90_000);

test("a price change through product instance 1 invalidates the copy instance 2 cached", async () => {
  const product = await createProduct(via(), admin, 1, { priceCents: 4_000 });
  const [one, two] = [stack.instanceUrl("product", 0), stack.instanceUrl("product", 1)];
  const metricsText = async (url: string) => (await fetch(url.replace(/\/graphql$/, "/metrics"))).text();
  const metricsOf = async (url: string, name: string, labels: Record<string, string>) => readMetric(await metricsText(url), name, labels);
  const l1Hits = () => metricsOf(two, "cache_requests_total", { cache: "product", level: "l1", result: "hit" });
  // Instance 2 trusts its L1 only while it hears invalidations (subgraphs/product/src/cache/invalidation.ts).
  await eventually(async () => (await metricsOf(two, "cache_invalidation_subscribed", {})) === 1, 10_000, "instance 2 to hear invalidations");
  // Instance 2 reads it twice: the second answer comes from its L1, which it would serve for CACHE_L1_TTL_MS (30 s).
  // A new product is announced more than once (by its writer, then by the cache refresh of its product and inventory
  // events from Kafka), so an invalidation can still arrive after the first read: read the pair again until it holds.
  await eventually(
    async () => {
      expect(await priceOf(two, product.id)).toBe(4_000);
      const hits = await l1Hits();
      expect(await priceOf(two, product.id)).toBe(4_000);
      return (await l1Hits()) === hits + 1;
    },
    10_000,
    "instance 2 to serve the product from its L1",
    200,
  );
  const heard = await metricsOf(two, "cache_invalidations_total", { reason: "pubsub" });

  await setPriceVia(one, product.id, 4_500);
  await eventually(async () => (await priceOf(two, product.id)) === 4_500, 5_000, "instance 2 to serve the new price", 20);
  expect(await metricsOf(two, "cache_invalidations_total", { reason: "pubsub" })).toBeGreaterThan(heard);
  // Through HAProxy and either router, every read now has the new price.
  for (const server of ["router-1", "router-2", "router-1", "router-2"] as const) {
    const res = await via(server)(`query($id: ID!) { product(id: $id) { priceCents } }`, { id: product.id });
    expect(res.data?.product?.priceCents).toBe(4_500);
  }
}, 60_000);
