import { randomUUID } from "node:crypto";
import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { createPrisma } from "../common/prisma.ts";
import { signClientToken } from "../common/identity.ts";
import { createProductStore } from "../subgraphs/product/src/products.ts";
import { benchEnv, percentile, startPlatform } from "./platform.ts";
import { startSubscribers } from "./subscriber-pool.ts";

// `npm run bench:subscriptions`: BENCH_SUBSCRIBERS (default 5000) WebSocket clients subscribe to
// `stockChanged` for one product through the router while buyers place orders for it through the router
// (BENCH_BUYERS concurrent, default 10, for BENCH_DURATION s, default 20). The subscribers run in
// BENCH_SUBSCRIBER_WORKERS worker threads (default 2). BENCH_SIGNED_IN=1 signs every subscriber in with a
// token of its own (a user each), so the run measures sharing across identities (`stockChanged` is @public:
// docs/subscriptions.md); default anonymous. Reports delivery latency from the committed change (`changedAt`) to
// each client, memory per connection, and dropped connections.
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 5_000);
const BUYERS = Number(process.env.BENCH_BUYERS ?? 10);
const DURATION = Number(process.env.BENCH_DURATION ?? 20);
const WORKERS = Number(process.env.BENCH_SUBSCRIBER_WORKERS ?? 2);
const SIGNED_IN = process.env.BENCH_SIGNED_IN === "1";
const log = createLogger("bench-subscriptions", "info");

const env = await benchEnv(log);
const config = loadConfig(env);
const prisma = createPrisma(config.DATABASE_URL);
const product = await createProductStore(prisma).create({
  sku: `BENCH-SUB-${randomUUID().slice(0, 8)}`,
  name: "Subscription bench item",
  description: "",
  priceCents: 1_000,
  currency: "USD",
  initialStock: 1_000_000,
});
await prisma.$disconnect();

const platform = await startPlatform(env);
const wsUrl = platform.url.replace(/^http/, "ws");
const query = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { productId available changedAt } }`;

const tokens = SIGNED_IN
  ? await Promise.all(Array.from({ length: SUBSCRIBERS }, (_, i) => signClientToken(config.JWT_SECRET, `bench-watcher-${i}-${randomUUID()}`)))
  : undefined;
const routerRssBefore = platform.rss("router");
const subscribers = startSubscribers({ url: wsUrl, query, productId: product.id, subscribers: SUBSCRIBERS, workers: WORKERS, tokens });
let failing = false;
const failed = async (error: unknown): Promise<never> => {
  if (failing) return new Promise<never>(() => undefined);
  failing = true;
  log.error({ err: error }, "subscription bench failed");
  await subscribers.terminate();
  await platform.stop();
  process.exit(1);
};
const readyTimeout = setTimeout(() => void failed(new Error("subscribers did not all get their first value within 120 s")), 120_000);
const connected = await subscribers.ready.catch(failed);
clearTimeout(readyTimeout);
if (connected.failed > 0) log.warn(connected, "some subscribers failed before their first value");
const routerRssAfter = platform.rss("router");
log.info({ subscribers: SUBSCRIBERS }, "all subscribers have their first value; buying");

const outcomes: Record<string, number> = {};
const deadline = Date.now() + DURATION * 1000;
await Promise.all(
  Array.from({ length: BUYERS }, async (_, worker) => {
    const token = await signClientToken(config.JWT_SECRET, `bench-buyer-${worker}-${randomUUID()}`);
    while (Date.now() < deadline) {
      const response = await fetch(platform.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
          variables: {
            input: { idempotencyKey: randomUUID(), items: [{ productId: product.id, quantity: 1, expectedPriceCents: 1_000, priceVersion: 1 }] },
          },
        }),
      });
      const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
      const outcome = body.errors?.[0]?.extensions?.code ?? "ok";
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  }),
);
await new Promise((r) => setTimeout(r, 2_000)); // let the last events arrive
const { latencies: sorted, dropped, errors } = await subscribers.stop().catch(failed);
await platform.stop();

const purchases = outcomes.ok ?? 0;
process.stdout.write(
  [
    `stockChanged through the router: ${SUBSCRIBERS} WebSocket subscribers (${SIGNED_IN ? "each signed in as a user of its own" : "anonymous"}), ${BUYERS} concurrent buyers for ${DURATION} s`,
    "",
    `purchases: ${purchases} ok (${(purchases / DURATION).toFixed(0)}/s), outcomes ${JSON.stringify(outcomes)}`,
    `deliveries after the first value: ${sorted.length} (${(sorted.length / SUBSCRIBERS).toFixed(1)} per subscriber; coalesced to <= 10/s per subscriber)`,
    `delivery latency from commit to client: p50 ${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1) ?? 0} ms`,
    `router memory per connection: ${((routerRssAfter - routerRssBefore) / SUBSCRIBERS / 1024).toFixed(1)} KiB (RSS ${(routerRssBefore / 2 ** 20).toFixed(0)} -> ${(routerRssAfter / 2 ** 20).toFixed(0)} MiB)`,
    `dropped connections: ${dropped}, results with errors: ${errors}`,
    "",
  ].join("\n"),
);
process.exit(0);
