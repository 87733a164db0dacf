import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { adminToken, config, logger, startRouter, startStack, uniqueSku, type Stack } from "./harness.ts";
import { createEventHub } from "../common/event-hub.ts";
import { createInventoryService } from "../subgraphs/inventory/src/server.ts";
import { received } from "./wait.ts";

let stack: Stack;
let admin: string;
const clients: Client[] = [];
beforeAll(async () => {
  stack = await startStack({ relay: true });
  admin = await adminToken();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await stack.close();
});

function wsClient(url: string, connectionParams: Record<string, unknown> = {}) {
  const client = createClient({ url: url.replace(/^http/, "ws"), webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
  clients.push(client);
  return client;
}

/**
 * Subscribes and records every result. stockChanged sends the current value first, and only after the inventory
 * subgraph listens for changes (stock-changes.ts), so once `first()` resolves a change made next is delivered.
 */
function collect(client: Client, query: string, variables: Record<string, unknown>) {
  const results = received<any>("stockChanged");
  const stop = client.subscribe(
    { query, variables },
    {
      next: (result) => results.push(result),
      error: (error) => results.end(`failed with ${error instanceof Error ? error.message : JSON.stringify(error)}`),
      complete: () => results.end("completed"),
    },
  );
  return Object.assign(results, { stop });
}

async function createProduct(initialStock: number) {
  const res = await stack.gql(
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
    { input: { sku: uniqueSku("SUB"), name: "Live lamp", description: "", priceCents: 2500, currency: "USD", initialStock } },
    { token: admin },
  );
  return res.data!.createProduct.id as string;
}

const restock = (id: string, quantity: number) =>
  stack.gql(`mutation($id: ID!, $q: Int!) { restock(productId: $id, quantity: $q) { available } }`, { id, q: quantity }, { token: admin });

/**
 * Waits until a change made through router A reaches a subscriber of `routerUrl`. A new event hub has joined its
 * consumer group when it is created, but kafkajs picks the start offsets (the end of the topic) only at the first
 * fetch after that: an event published in between is never delivered. The first event of a subscription comes
 * from the database, so it proves nothing about the hub; one change seen through it does. Until then the probe
 * product is restocked again, each time with a short bound.
 */
async function untilHubDelivers(routerUrl: string) {
  const id = await createProduct(0);
  const probe = collect(wsClient(routerUrl), `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { available } }`, { ids: [id] });
  await probe.first();
  for (let attempt = 1; ; attempt++) {
    await restock(id, 1);
    try {
      await probe.waitFor((x) => x.data?.stockChanged.available > 0, 2_000);
      return probe.stop();
    } catch (error) {
      if (attempt === 5) throw error;
    }
  }
}

test("stockChanged over graphql-ws: current value first, then changes, with product fields resolved through the federation", async () => {
  const id = await createProduct(5);
  const client = wsClient(stack.routerUrl);
  const query = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { productId available reserved sold product { name priceCents } } }`;
  const stock = collect(client, query, { ids: [id] });
  await stock.first();
  await restock(id, 3);
  const results = await stock.waitFor((x) => x.data?.stockChanged.available === 8);
  stock.stop();
  expect(results[0].data.stockChanged).toEqual({
    productId: id,
    available: 5,
    reserved: 0,
    sold: 0,
    product: { name: "Live lamp", priceCents: 2500 },
  });
  expect(results.at(-1).data.stockChanged).toMatchObject({ available: 8, product: { name: "Live lamp" } });
});

test("stockChanged coalesces a burst to the latest value and never goes backwards", async () => {
  const id = await createProduct(0);
  const client = wsClient(stack.routerUrl);
  const stock = collect(client, `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { available } }`, { ids: [id] });
  await stock.first();
  await Promise.all(Array.from({ length: 20 }, () => restock(id, 1)));
  const seen: number[] = (await stock.waitFor((x) => x.data?.stockChanged.available === 20)).map((x) => x.data.stockChanged.available);
  stock.stop();
  expect(seen[0]).toBe(0);
  expect(seen.at(-1)).toBe(20);
  expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  expect(seen.length).toBeLessThan(21);
});

test("an unknown product or a bad id is an error on the subscription", async () => {
  const client = wsClient(stack.routerUrl);
  await expect(
    collect(client, `subscription { stockChanged(productIds: ["00000000-0000-4000-8000-000000000000"]) { available } }`, {}).waitFor(() => true),
  ).resolves.toEqual([
    expect.objectContaining({ errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: "NOT_FOUND" }) })] }),
  ]);
});

test("subscribers that join a shared subscription late still get the current value first", async () => {
  const id = await createProduct(11);
  const query = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { productId available } }`;
  const first = wsClient(stack.routerUrl);
  const early = collect(first, query, { ids: [id] });
  // Once the first subscriber has its current value, the router's shared subscription exists for the late ones.
  await early.first();
  for (const selection of ["productId available", "available"]) {
    const late = collect(wsClient(stack.routerUrl), `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { ${selection} } }`, { ids: [id] });
    const current = await late.first();
    late.stop();
    expect(current.data.stockChanged.available).toBe(11);
  }
  await restock(id, 1);
  const results = await early.waitFor((x) => x.data?.stockChanged.available === 12);
  early.stop();
  expect(results.map((r) => r.data.stockChanged.available)).toEqual([11, 12]);
});

test("a change made through one router reaches a subscriber on another router and another inventory instance", async () => {
  const hub = await createEventHub({ ctx: stack.kafka, topics: ["inventory"], service: "inventory-b", logger });
  const inventoryB = await createInventoryService({ prisma: stack.prisma, redis: stack.redis, logger, internalSecret: config.INTERNAL_SECRET, hub });
  const inventoryBUrl = `http://127.0.0.1:${await inventoryB.listen(0, "127.0.0.1")}/graphql`;
  const routerB = await startRouter({ ...stack.urls, inventory: inventoryBUrl });
  try {
    await untilHubDelivers(routerB.url);
    const id = await createProduct(30);
    const stock = collect(wsClient(routerB.url), `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { available product { name } } }`, {
      ids: [id],
    });
    await stock.first();
    await restock(id, 7); // through router A and inventory instance A
    const results = await stock.waitFor((x) => x.data?.stockChanged.available === 37);
    stock.stop();
    expect(results.map((r) => r.data.stockChanged)).toEqual([
      { available: 30, product: { name: "Live lamp" } },
      { available: 37, product: { name: "Live lamp" } },
    ]);
  } finally {
    await routerB.close();
    await inventoryB.close();
    await hub.close();
  }
});
