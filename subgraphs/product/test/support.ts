import { randomUUID } from "node:crypto";
import type { RedisOptions } from "ioredis";
import { config, gql, logger, uniqueSku, type GraphQLResponse } from "../../../test/harness.ts";
import { createPrisma, type PrismaClient } from "../../../common/prisma.ts";
import { createRedis, type Redis } from "../../../common/redis.ts";
import { signInternalIdentity, IDENTITY_HEADER } from "../../../common/identity.ts";
import { createProductService } from "../src/server.ts";
import { connectProductCaching } from "../src/cache/caching.ts";
import type { CacheOptions } from "../src/cache/options.ts";
import { createProductStore, type ProductRecord } from "../src/products.ts";

/** Cache options for one test: its own Redis keys and channel, so tests never see each other's entries. */
export function testCacheOptions(overrides: Partial<CacheOptions> = {}): CacheOptions {
  return {
    keyPrefix: `test:cache:${randomUUID()}:`,
    l1Max: 1_000,
    l1TtlMs: 60_000,
    l2TtlSeconds: 300,
    queryTtlSeconds: 60,
    negativeTtlMs: 2_000,
    ...overrides,
  };
}

/** A fake clock for L1 lifetimes. */
export function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

/** What a process would look like in production: own Prisma pool (every SQL statement recorded), own cache, own subscriber. */
export interface Instance {
  url: string;
  prisma: PrismaClient;
  redis: Redis;
  sql: string[];
  caching: Awaited<ReturnType<typeof connectProductCaching>> | undefined;
  store: ReturnType<typeof createProductStore>;
  /** Product-table reads recorded since the instance started (or since `sql.length = 0`). */
  productReads: () => number;
  metric: (name: string, labels?: Record<string, string>) => Promise<number>;
  close: () => Promise<void>;
}

export async function startProductInstance(options: { cache?: CacheOptions; subscriber?: RedisOptions; redisUrl?: string } = {}): Promise<Instance> {
  const sql: string[] = [];
  const prisma = createPrisma(config.DATABASE_URL, { poolSize: 5, onQuery: (q) => sql.push(q) });
  const redisUrl = options.redisUrl ?? config.REDIS_URL;
  const redis = createRedis(redisUrl);
  const caching = options.cache
    ? await connectProductCaching({ redis, redisUrl, options: options.cache, logger, subscriberOptions: options.subscriber })
    : undefined;
  const service = await createProductService({ prisma, logger, internalSecret: config.INTERNAL_SECRET, cache: caching });
  const port = await service.listen(0, "127.0.0.1");
  const base = `http://127.0.0.1:${port}`;
  return {
    url: `${base}/graphql`,
    prisma,
    redis,
    sql,
    caching,
    store: service.store,
    productReads: () => sql.filter((q) => /^SELECT\b[\s\S]*\bFROM "public"\."products"/.test(q) || /FROM products\b/.test(q)).length,
    metric: async (name, labels = {}) => readMetric(await (await fetch(`${base}/metrics`)).text(), name, labels),
    close: async () => {
      await service.close();
      await caching?.close();
      redis.disconnect();
      await prisma.$disconnect();
    },
  };
}

/** Sum of the samples of `name` whose labels include `labels`, from Prometheus text format. */
export function readMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(match[3]);
  }
  return total;
}

/** Headers that make a direct subgraph call an admin's, as if the router had forwarded it. */
export async function adminHeaders(): Promise<Record<string, string>> {
  const identity = { user: { id: `admin-${randomUUID()}`, roles: ["admin"], isAdmin: true } };
  return { [IDENTITY_HEADER]: await signInternalIdentity(identity, config.INTERNAL_SECRET) };
}

const PRODUCT_FIELDS = "id sku name description priceCents currency priceVersion active createdAt";

export async function createProductVia(url: string, overrides: Record<string, unknown> = {}): Promise<ProductRecord & { createdAt: string }> {
  const input = {
    sku: uniqueSku("CACHE"),
    name: "Cache test item",
    description: "",
    priceCents: 1_000,
    currency: "USD",
    initialStock: 3,
    ...overrides,
  };
  const res = await gql(
    url,
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { ${PRODUCT_FIELDS} } }`,
    { input },
    { headers: await adminHeaders() },
  );
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.createProduct;
}

export async function setPriceVia(url: string, id: string, priceCents: number) {
  const res = await gql(
    url,
    `mutation($id: ID!, $p: Int!) { updateProductPrice(id: $id, priceCents: $p) { id priceCents priceVersion } }`,
    { id, p: priceCents },
    { headers: await adminHeaders() },
  );
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.updateProductPrice as { id: string; priceCents: number; priceVersion: number };
}

export async function priceOf(url: string, id: string): Promise<number | null> {
  const res: GraphQLResponse = await gql(url, `query($id: ID!) { product(id: $id) { priceCents } }`, { id });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.product?.priceCents ?? null;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true; rejects after `timeoutMs` (default 10 s). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}
