import http from "node:http";
import WebSocket from "ws";
import { adminToken, startRouter, startStack, uniqueSku, type Stack } from "./harness.ts";
import { received } from "./wait.ts";
import { eventually } from "./eventually.ts";

// A client that stops reading: the kernel's buffers on both sides fill first (a few MB on loopback), then the
// router's. Every event carries 15 copies of a 5 000-character description so that happens within a few events.
const BOUND = 64 * 1024;
const ALIASES = Array.from({ length: 15 }, (_, i) => `d${i}: product { description }`).join(" ");
const HEAVY = (ids: string[]) => `subscription { stockChanged(productIds: ${JSON.stringify(ids)}) { productId available ${ALIASES} } }`;

let stack: Stack;
let router: Awaited<ReturnType<typeof startRouter>>;
let admin: string;
beforeAll(async () => {
  stack = await startStack({ relay: true });
  router = await startRouter(stack.urls, { subscriptionLimits: { maxBufferedBytes: BOUND } });
  admin = await adminToken();
});
afterAll(async () => {
  await router.close();
  await stack.close();
});

async function createProduct() {
  const created = await stack.gql(
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
    { input: { sku: uniqueSku("SLOW"), name: "Heavy lamp", description: "d".repeat(5_000), priceCents: 900, currency: "USD", initialStock: 5 } },
    { token: admin },
  );
  if (created.errors) throw new Error(`createProduct failed: ${JSON.stringify(created.errors)}`);
  return created.data!.createProduct.id as string;
}

const restock = (id: string) => stack.gql(`mutation($id: ID!) { restock(productId: $id, quantity: 1) { available } }`, { id }, { token: admin });

/** How many slow readers the router has dropped on `transport`. */
async function droppedOn(transport: "websocket" | "multipart"): Promise<number> {
  const metric = await router.router.metrics.registry.getSingleMetric("router_subscription_slow_readers_dropped_total")!.get();
  return metric.values.find((v) => v.labels.transport === transport)?.value ?? 0;
}

/** A graphql-transport-ws client that has been acknowledged; its messages, parsed. */
async function openSocket() {
  const socket = new WebSocket(router.url.replace(/^http/, "ws"), "graphql-transport-ws");
  const messages = received<any>("socket");
  socket.on("message", (data) => messages.push(JSON.parse(data.toString())));
  socket.on("close", (code) => messages.end(`closed with ${code}`));
  socket.on("error", () => undefined);
  await new Promise((resolve) => socket.once("open", resolve));
  socket.send(JSON.stringify({ type: "connection_init" }));
  await messages.waitFor((m) => m.type === "connection_ack");
  return { socket, messages, subscribe: (id: string, query: string) => socket.send(JSON.stringify({ id, type: "subscribe", payload: { query } })) };
}

test("a WebSocket that stops reading is dropped; a reader on the same events keeps receiving them", async () => {
  const id = await createProduct();
  const reader = await openSocket();
  reader.subscribe("1", HEAVY([id]));
  await reader.messages.waitFor((m) => m.type === "next");

  const slow = await openSocket();
  // The client stops taking bytes off its TCP socket; its subscribes still go out.
  (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
  for (let i = 0; i < 100; i++) slow.subscribe(String(i), HEAVY([id]));
  await eventually(async () => ((await droppedOn("websocket")) === 1 ? true : undefined), 15_000, "the slow socket to be dropped");
  expect(router.router.websocket.clients()).toBe(1);

  // Restocked until a change arrives: the stack's event hub may not have fetched from Kafka yet (harness.ts).
  const changed = await eventually(
    async () => {
      await restock(id);
      const events = await reader.messages.waitFor((m) => m.type === "next" && m.payload.data.stockChanged.available > 5, 1_000);
      return events.at(-1);
    },
    15_000,
    "a change to reach the reader",
  );
  expect(changed.payload.data.stockChanged.d0.description).toHaveLength(5_000);
  reader.socket.close();
});

test("a multipart stream that stops reading is dropped", async () => {
  const ids = await Promise.all(Array.from({ length: 10 }, () => createProduct()));
  const url = new URL(router.url);
  const request = http.request(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: 'multipart/mixed;subscriptionSpec="1.0", application/json' },
  });
  const ended = new Promise<void>((resolve) => request.on("close", () => resolve()));
  request.on("error", () => undefined);
  // The response is never read: Node stops reading the socket once the response's small buffer is full.
  const response = new Promise<http.IncomingMessage>((resolve) => request.on("response", resolve));
  request.end(JSON.stringify({ query: HEAVY(ids) }));
  expect((await response).statusCode).toBe(200);

  // Each round is one event per product (changes are coalesced per product per 100 ms).
  await eventually(
    async () => {
      await Promise.all(ids.map(restock));
      return (await droppedOn("multipart")) === 1 ? true : undefined;
    },
    30_000,
    "the slow stream to be dropped",
  );
  (await response).resume();
  await ended;
});
