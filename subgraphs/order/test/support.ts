import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Redis } from "../../../common/redis.ts";
import type { KafkaContext } from "../../../common/kafka.ts";
import { stockKey } from "../../../common/stock.ts";
import { uniqueSku, type GraphQLResponse } from "../../../test/harness.ts";

export const ORDER_FIELDS = `id status totalCents currency reservedUntil cancelReason createdAt updatedAt flashSaleId
  items { quantity unitPriceCents product { id } }`;

export const PLACE_ORDER = `mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { ${ORDER_FIELDS} } }`;
export const PAY_ORDER = `mutation Pay($id: ID!, $token: String!) { payOrder(id: $id, paymentToken: $token) { ${ORDER_FIELDS} } }`;
export const CANCEL_ORDER = `mutation Cancel($id: ID!) { cancelOrder(id: $id) { ${ORDER_FIELDS} } }`;
export const ORDER = `query Order($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`;

type Gql = (query: string, variables?: Record<string, unknown>, opts?: { token?: string }) => Promise<GraphQLResponse>;

export interface TestProduct {
  id: string;
  priceCents: number;
  priceVersion: number;
}

/** A product with `stock` units, created by an admin through the router (as a client would). */
export async function createProduct(gql: Gql, admin: string, stock: number, overrides: Record<string, unknown> = {}): Promise<TestProduct> {
  const input = { sku: uniqueSku("ORD"), name: "Limited sneaker", description: "Drop", priceCents: 1_000, currency: "USD", initialStock: stock, ...overrides };
  const res = await gql(`mutation($input: CreateProductInput!) { createProduct(input: $input) { id priceCents priceVersion } }`, { input }, { token: admin });
  if (res.errors) throw new Error(`createProduct failed: ${JSON.stringify(res.errors)}`);
  return res.data!.createProduct as TestProduct;
}

export const line = (product: TestProduct, quantity = 1) => ({ productId: product.id, quantity, expectedPriceCents: product.priceCents, priceVersion: product.priceVersion });
export type LineInput = { productId: string; quantity: number; expectedPriceCents?: number; priceVersion?: number };
export const orderInput = (items: LineInput[], idempotencyKey: string = randomUUID()) => ({ idempotencyKey, items });

export interface Counts {
  available: number;
  reserved: number;
  sold: number;
}

/** PostgreSQL's committed counters for a product. */
export async function pgStock(prisma: PrismaClient, productId: string): Promise<Counts> {
  const row = await prisma.stock.findUniqueOrThrow({ where: { productId }, select: { available: true, reserved: true, sold: true } });
  return row;
}

/** Redis's live counters for a product (null when Redis has not loaded them). */
export async function redisStock(redis: Redis, productId: string): Promise<Counts | null> {
  const [a, r, s] = await redis.hmget(stockKey(productId), "available", "reserved", "sold");
  return a === null || r === null || s === null ? null : { available: Number(a), reserved: Number(r), sold: Number(s) };
}

export const total = (c: Counts | null) => (c ? c.available + c.reserved + c.sold : Number.NaN);

/** Polls until `check` returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

export const codeOf = (res: GraphQLResponse) => res.errors?.[0]?.extensions?.code as string | undefined;

export interface RawMessage {
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

/**
 * Like the harness's `watchTopic`, but keeps messages raw (a dead-letter topic holds things that are not
 * JSON): every partition is read from its current end, so history is skipped and nothing new is missed.
 */
export async function watchRaw(kafka: KafkaContext, topic: string) {
  const name = kafka.topic(topic);
  const admin = kafka.kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(name);
  await admin.disconnect();
  const messages: RawMessage[] = [];
  const consumer = kafka.kafka.consumer({ groupId: `test-watch-raw-${randomUUID()}`, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topic: name, fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ message }) =>
      void messages.push({
        key: message.key?.toString() ?? null,
        value: message.value?.toString() ?? "",
        headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
      }),
  });
  for (const { partition, offset } of offsets) consumer.seek({ topic: name, partition, offset });
  await joined;
  return {
    messages,
    waitFor: (predicate: (m: RawMessage) => boolean, timeoutMs = 20_000) =>
      eventually(async () => messages.find(predicate), timeoutMs, `a message on ${name}`),
    close: () => consumer.disconnect(),
  };
}
