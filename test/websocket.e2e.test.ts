import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { adminToken, config, startRouter, startStack, token, uniqueSku, type Stack } from "./harness.ts";
import { signClientToken } from "../common/identity.ts";

let stack: Stack;
let productId: string;
beforeAll(async () => {
  stack = await startStack();
  const created = await stack.gql(
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
    {
      input: { sku: uniqueSku("WS"), name: "Socket lamp", description: "", priceCents: 900, currency: "USD", initialStock: 7 },
    },
    { token: await adminToken() },
  );
  if (created.errors) throw new Error(`createProduct failed: ${JSON.stringify(created.errors)}`);
  productId = created.data!.createProduct.id as string;
});
afterAll(() => stack.close());

const wsUrl = (url: string) => url.replace(/^http/, "ws");
const STOCK = (id: string) => ({ query: `subscription { stockChanged(productIds: ["${id}"]) { available } }` });

/** Resolves with the close code of a graphql-ws client that connects with `connectionParams`. */
function closeCodeOf(url: string, connectionParams: Record<string, unknown>, headers?: Record<string, string>) {
  return new Promise<number>((resolve) => {
    const client = createClient({
      url: wsUrl(url),
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers });
        }
      },
      connectionParams,
      retryAttempts: 0,
      lazy: false,
      on: { closed: (event) => resolve((event as { code: number }).code) },
      onNonLazyError: () => undefined,
    });
    setTimeout(() => void client.dispose(), 5_000);
  });
}

/** First result or error of one subscription. */
function firstOf(client: ReturnType<typeof createClient>, payload: { query: string }) {
  return new Promise<any>((resolve) => {
    const stop = client.subscribe(payload, {
      next: (value) => {
        stop();
        resolve(value);
      },
      error: (error) => resolve({ error }),
      complete: () => undefined,
    });
  });
}

test("a valid token in connectionParams is accepted; an invalid or expired one closes the socket with 4403", async () => {
  const good = createClient({
    url: wsUrl(stack.routerUrl),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${await token("alice")}` },
  });
  expect((await firstOf(good, STOCK(productId))).data.stockChanged.available).toBe(7);
  await good.dispose();
  expect(await closeCodeOf(stack.routerUrl, { authorization: "Bearer forged.token.value" })).toBe(4403);
  // Signed with the secret the router was started with, so only the expiry is wrong.
  const expired = await signClientToken(config.JWT_SECRET, "alice", [], Math.floor(Date.now() / 1000) - 5);
  expect(await closeCodeOf(stack.routerUrl, { authorization: `Bearer ${expired}` })).toBe(4403);
});

test("a socket that never sends connection_init is closed with 4408", async () => {
  const router = await startRouter(stack.urls, { connectionInitWaitTimeoutMs: 200 });
  try {
    const code = await new Promise<number>((resolve) => {
      const socket = new WebSocket(wsUrl(router.url), "graphql-transport-ws");
      socket.on("close", (c) => resolve(c));
    });
    expect(code).toBe(4408);
  } finally {
    await router.close();
  }
});

test("only allowed browser origins may open a socket", async () => {
  const router = await startRouter(stack.urls, { allowedOrigins: ["https://shop.example"] });
  try {
    const status = await new Promise<number>((resolve) => {
      const socket = new WebSocket(wsUrl(router.url), "graphql-transport-ws", { headers: { origin: "https://evil.example" } });
      socket.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      socket.on("open", () => resolve(101));
    });
    expect(status).toBe(403);
    const allowed = createClient({
      url: wsUrl(router.url),
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: { origin: "https://shop.example" } });
        }
      },
    });
    expect((await firstOf(allowed, STOCK(productId))).data).toBeDefined();
    await allowed.dispose();
  } finally {
    await router.close();
  }
});

test("subscriptions per socket are capped, queries over the socket are refused", async () => {
  const router = await startRouter(stack.urls, { maxSubscriptionsPerSocket: 2 });
  const client = createClient({ url: wsUrl(router.url), webSocketImpl: WebSocket });
  try {
    const held: (() => void)[] = [];
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((resolve) =>
        held.push(client.subscribe(STOCK(productId), { next: () => resolve(), error: () => undefined, complete: () => undefined })),
      );
    }
    const third = await firstOf(client, STOCK(productId));
    expect(third.error[0].extensions.code).toBe("RATE_LIMITED");
    const query = await firstOf(client, { query: "{ products(first: 1) { nodes { id } } }" });
    expect(query.error[0].extensions.code).toBe("BAD_REQUEST");
    held.forEach((stop) => stop());
  } finally {
    await client.dispose();
    await router.close();
  }
});

test("shutdown closes open sockets with 1001 (going away)", async () => {
  const router = await startRouter(stack.urls);
  const closed = new Promise<number>((resolve) => {
    const client = createClient({
      url: wsUrl(router.url),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      on: { closed: (e) => resolve((e as { code: number }).code) },
    });
    client.subscribe(STOCK(productId), { next: () => void router.close(), error: () => undefined, complete: () => undefined });
  });
  expect(await closed).toBe(1001);
});
