import { randomUUID } from "node:crypto";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { adminToken, startStack, token, type Stack } from "./harness.ts";
import { createProduct, line, orderInput, PLACE_ORDER } from "./orders.ts";
import { publish } from "../common/kafka/publish.ts";
import type { OrderEvent } from "../common/events.ts";
import { received } from "./wait.ts";

// Subscriptions whose root field the supergraph marks @public (stockChanged, flashSaleChanged) are shared by every
// subscriber of the same document and variables, whoever they are; personal ones (orderStatusChanged) by one
// identity only. The router counts the upstream subscriptions it opens (`router_subscription_upstreams_total`).
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

function subscribe(userToken: string | null, query: string, variables: Record<string, unknown>) {
  const client = createClient({
    url: stack.routerUrl.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: userToken ? { authorization: `Bearer ${userToken}` } : {},
    retryAttempts: 0,
  });
  clients.push(client);
  const results = received<any>(query);
  const stop = client.subscribe(
    { query, variables },
    {
      next: (value) => results.push(value),
      error: (error) => results.end(`failed with ${error instanceof Error ? error.message : JSON.stringify(error)}`),
      complete: () => results.end("completed"),
    },
  );
  return Object.assign(results, { stop });
}

/** Upstream subscriptions the router has opened for `rootField` with this sharing, from its `/metrics`. */
async function upstreamsOpened(rootField: string, sharing: "public" | "identity"): Promise<number> {
  const text = await (await fetch(stack.routerUrl.replace(/\/graphql$/, "/metrics"))).text();
  const line = text
    .split("\n")
    .find(
      (l) => l.startsWith("router_subscription_upstreams_total{") && l.includes(`root_field="${rootField}"`) && l.includes(`sharing="${sharing}"`),
    );
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

const STOCK = `subscription Stock($ids: [ID!]!) { stockChanged(productIds: $ids) { productId available product { name } } }`;

test("signed-in users watching one product's stock share one upstream subscription, and each gets every change", async () => {
  const product = await createProduct(stack.gql, admin, 4, { name: "Shared lamp" });
  const before = await upstreamsOpened("stockChanged", "public");
  const users = await Promise.all(Array.from({ length: 5 }, (_, i) => token(`watcher-${i}-${randomUUID()}`)));
  const watches = [...users, null, admin].map((user) => subscribe(user, STOCK, { ids: [product.id] }));
  for (const watch of watches)
    expect((await watch.first()).data.stockChanged).toEqual({ productId: product.id, available: 4, product: { name: "Shared lamp" } });
  expect(await upstreamsOpened("stockChanged", "public")).toBe(before + 1);

  await stack.gql(`mutation($id: ID!) { restock(productId: $id, quantity: 3) { available } }`, { id: product.id }, { token: admin });
  for (const watch of watches) {
    const results = await watch.waitFor((r) => r.data?.stockChanged.available === 7);
    expect(results.map((r) => r.data.stockChanged.available)).toEqual([4, 7]);
    expect(results.every((r) => r.errors === undefined)).toBe(true);
  }
  expect(await upstreamsOpened("stockChanged", "public")).toBe(before + 1);
  watches.forEach((watch) => watch.stop());
});

test("orderStatusChanged is never shared across users: the owner gets the order, another user with the same document FORBIDDEN", async () => {
  const owner = await token(`buyer-${randomUUID()}`);
  const product = await createProduct(stack.gql, admin, 5, { name: "Private lamp" });
  const placed = await stack.gql(PLACE_ORDER, { input: orderInput([line(product, 1)]) }, { token: owner });
  const orderId = placed.data!.placeOrder.id as string;
  const query = `subscription Status($id: ID!) { orderStatusChanged(orderId: $id) { id status items { product { name } } } }`;
  const before = await upstreamsOpened("orderStatusChanged", "identity");

  const ownerWatch = subscribe(owner, query, { id: orderId });
  const otherWatch = subscribe(await token(`other-${randomUUID()}`), query, { id: orderId });
  expect((await otherWatch.first()).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");

  // The placement event, published again until the owner's subscription has it (orderStatusChanged sends no current value).
  const outbox = await stack.prisma.outboxEvent.findFirstOrThrow({ where: { topic: "order", key: orderId }, orderBy: { id: "asc" } });
  const resend = () => void publish(stack.kafka, stack.producer, "order", [outbox.payload as unknown as OrderEvent]).catch(() => undefined);
  resend();
  const timer = setInterval(resend, 250);
  try {
    const event = await ownerWatch.first();
    expect(event.data.orderStatusChanged).toEqual({ id: orderId, status: "RESERVED", items: [{ product: { name: "Private lamp" } }] });
  } finally {
    clearInterval(timer);
  }
  expect(otherWatch.events).toHaveLength(1);
  expect(await upstreamsOpened("orderStatusChanged", "identity")).toBe(before + 2);
  expect(await upstreamsOpened("orderStatusChanged", "public")).toBe(0);
  ownerWatch.stop();
});
