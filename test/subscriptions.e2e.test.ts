import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { adminToken, config, logger, startRouter, startStack, uniqueSku, type Stack } from "./harness.ts";
import { createEventHub } from "../common/event-hub.ts";
import { createInventoryService } from "../subgraphs/inventory/src/server.ts";

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

/** Collects a subscription's results until `until` says stop (or the timeout passes). */
function collect(client: Client, query: string, variables: Record<string, unknown>, until: (results: any[]) => boolean, timeoutMs = 15_000) {
  const results: any[] = [];
  return new Promise<any[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out; got ${JSON.stringify(results)}`));
    }, timeoutMs);
    const unsubscribe = client.subscribe({ query, variables }, {
      next: (result) => {
        results.push(result);
        if (until(results)) {
          clearTimeout(timer);
          unsubscribe();
          resolve(results);
        }
      },
      error: (error) => {
        clearTimeout(timer);
        reject(error);
      },
      complete: () => {
        clearTimeout(timer);
        resolve(results);
      },
    });
  });
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

test("stockChanged over graphql-ws: current value first, then changes, with product fields resolved through the federation", async () => {
  const id = await createProduct(5);
  const client = wsClient(stack.routerUrl);
  const query = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { productId available reserved sold product { name priceCents } } }`;
  const done = collect(client, query, { ids: [id] }, (r) => r.some((x) => x.data?.stockChanged.available === 8));
  await new Promise((r) => setTimeout(r, 500));
  await restock(id, 3);
  const results = await done;
  expect(results[0].data.stockChanged).toEqual({ productId: id, available: 5, reserved: 0, sold: 0, product: { name: "Live lamp", priceCents: 2500 } });
  expect(results.at(-1).data.stockChanged).toMatchObject({ available: 8, product: { name: "Live lamp" } });
});

test("stockChanged coalesces a burst to the latest value and never goes backwards", async () => {
  const id = await createProduct(0);
  const client = wsClient(stack.routerUrl);
  const seen: number[] = [];
  const done = collect(
    client,
    `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { available } }`,
    { ids: [id] },
    (r) => {
      seen.push(r.at(-1).data.stockChanged.available);
      return seen.at(-1) === 20;
    },
  );
  await new Promise((r) => setTimeout(r, 500));
  await Promise.all(Array.from({ length: 20 }, () => restock(id, 1)));
  await done;
  expect(seen[0]).toBe(0);
  expect(seen.at(-1)).toBe(20);
  expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  expect(seen.length).toBeLessThan(21);
});

test("an unknown product or a bad id is an error on the subscription", async () => {
  const client = wsClient(stack.routerUrl);
  await expect(
    collect(client, `subscription { stockChanged(productIds: ["00000000-0000-4000-8000-000000000000"]) { available } }`, {}, () => true),
  ).resolves.toEqual([expect.objectContaining({ errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: "NOT_FOUND" }) })] })]);
});

test("subscribers that join a shared subscription late still get the current value first", async () => {
  const id = await createProduct(11);
  const query = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { productId available } }`;
  const first = wsClient(stack.routerUrl);
  const firstDone = collect(first, query, { ids: [id] }, (r) => r.some((x) => x.data.stockChanged.available === 12));
  await new Promise((r) => setTimeout(r, 300));
  for (const selection of ["productId available", "available"]) {
    const late = wsClient(stack.routerUrl);
    const [current] = await collect(late, `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { ${selection} } }`, { ids: [id] }, () => true);
    expect(current.data.stockChanged.available).toBe(11);
  }
  await restock(id, 1);
  expect((await firstDone).map((r) => r.data.stockChanged.available)).toEqual([11, 12]);
});

test("a change made through one router reaches a subscriber on another router and another inventory instance", async () => {
  const hub = await createEventHub({ ctx: stack.kafka, topics: ["inventory"], service: "inventory-b", logger });
  const inventoryB = await createInventoryService({ prisma: stack.prisma, redis: stack.redis, logger, internalSecret: config.INTERNAL_SECRET, hub });
  const inventoryBUrl = `http://127.0.0.1:${await inventoryB.listen(0, "127.0.0.1")}/graphql`;
  const routerB = await startRouter({ ...stack.urls, inventory: inventoryBUrl });
  try {
    const id = await createProduct(30);
    const client = wsClient(routerB.url);
    const done = collect(
      client,
      `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { available product { name } } }`,
      { ids: [id] },
      (r) => r.some((x) => x.data.stockChanged.available === 37),
    );
    await new Promise((r) => setTimeout(r, 500));
    await restock(id, 7); // through router A and inventory instance A
    const results = await done;
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
