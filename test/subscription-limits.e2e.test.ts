import WebSocket from "ws";
import { adminToken, startRouter, startStack, token, type Stack } from "./harness.ts";
import { healthDuring } from "./health-during.ts";
import { received } from "./wait.ts";
import { createProduct } from "./orders.ts";
import { eventually } from "./eventually.ts";

let stack: Stack;
let productId: string;
beforeAll(async () => {
  stack = await startStack();
  productId = (await createProduct(stack.gql, await adminToken(), 3, { name: "Capped lamp" })).id;
});
afterAll(() => stack.close());

const STOCK = (id: string) => `subscription { stockChanged(productIds: ["${id}"]) { available } }`;
const sockets: WebSocket[] = [];
afterEach(() => sockets.splice(0).forEach((s) => s.terminate()));

/** A raw graphql-transport-ws socket that has sent `connection_init`: what it receives and how it closes. */
function openSocket(url: string, authorization?: string, options: WebSocket.ClientOptions = {}) {
  const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws", options);
  sockets.push(socket);
  const messages = received<any>("socket");
  const closed = new Promise<number>((resolve) =>
    socket.on("close", (code) => {
      messages.end(`closed with ${code}`);
      resolve(code);
    }),
  );
  socket.on("error", () => undefined);
  socket.on("message", (data) => messages.push(JSON.parse(data.toString())));
  socket.once("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: authorization ? { authorization } : {} })));
  const subscribe = (id: string, query: string) => socket.send(JSON.stringify({ id, type: "subscribe", payload: { query } }));
  return { socket, messages, closed, subscribe, acked: () => messages.waitFor((m) => m.type === "connection_ack") };
}

/** Resolves with the code a socket closes with, or "open" when it is still open after its ack and `graceMs`. */
async function outcomeOf(socket: ReturnType<typeof openSocket>, graceMs = 300): Promise<number | "open"> {
  const ack = socket.acked().then(() => new Promise<"open">((resolve) => setTimeout(() => resolve("open"), graceMs)));
  return Promise.race([socket.closed, ack.catch(() => socket.closed)]);
}

test("a 4 MB subscribe message closes that socket with 1009 while /health keeps answering", async () => {
  // The attacker's own work runs in this process too. Building the 4 MB is done before the probes start, and its
  // frame is sent with an all-zero mask, which ws does not apply: masking 4 MB in JavaScript (no bufferutil) held
  // this process's event loop, and so the probes, for up to half a second on a loaded machine.
  const attacker = openSocket(stack.routerUrl, undefined, { generateMask: (mask) => void mask.fill(0) });
  await attacker.acked();
  const huge = `subscription { stockChanged(productIds: ["${"x".repeat(4 * 1024 * 1024)}"]) { available } }`;
  const message = Buffer.from(JSON.stringify({ id: "1", type: "subscribe", payload: { query: huge } }));
  const { result, slowestMs, probes } = await healthDuring(stack.routerUrl, async () => {
    attacker.socket.send(message);
    return attacker.closed;
  });
  expect(result).toBe(1009);
  expect(probes).toBeGreaterThan(0);
  expect(slowestMs).toBeLessThan(200);
  // Only that socket: the router still serves subscriptions.
  const next = openSocket(stack.routerUrl);
  await next.acked();
  next.subscribe("1", STOCK(productId));
  expect((await next.messages.waitFor((m) => m.type === "next")).at(-1).payload.data.stockChanged.available).toBe(3);
});

test("a subscribe document over the operation limits gets an OPERATION_LIMIT_EXCEEDED error and the socket stays open", async () => {
  const client = openSocket(stack.routerUrl);
  await client.acked();
  const deep = `subscription { stockChanged(productIds: ["${productId}"]) { product { ${"stock { product { ".repeat(6)}id${" } }".repeat(6)} } } }`;
  client.subscribe("deep", deep);
  const error = (await client.messages.waitFor((m) => m.id === "deep")).at(-1);
  expect(error.type).toBe("error");
  expect(error.payload[0].extensions).toMatchObject({ code: "OPERATION_LIMIT_EXCEEDED", kind: "depth", limit: 10, value: expect.any(Number) });
  client.subscribe("ok", STOCK(productId));
  expect((await client.messages.waitFor((m) => m.id === "ok")).at(-1).type).toBe("next");
});

test("sockets per address are capped with 4429; streams count against the same cap", async () => {
  const router = await startRouter(stack.urls, { subscriptionLimits: { maxSocketsPerIp: 2 } });
  try {
    const [first, second] = [openSocket(router.url), openSocket(router.url)];
    await Promise.all([first.acked(), second.acked()]);
    expect(await outcomeOf(openSocket(router.url))).toBe(4429);
    const stream = await fetch(router.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: 'multipart/mixed;subscriptionSpec="1.0", application/json' },
      body: JSON.stringify({ query: STOCK(productId) }),
    });
    expect(stream.status).toBe(429);
    expect(((await stream.json()) as any).errors[0].extensions).toEqual({ code: "RATE_LIMITED", retryAfterMs: 1000 });
    // A closed socket gives its place back.
    first.socket.close();
    await first.closed;
    expect(await outcomeOf(openSocket(router.url))).toBe("open");
  } finally {
    await router.close();
  }
});

test("sockets per user are capped with 4429 across sockets; other users are not affected", async () => {
  const router = await startRouter(stack.urls, { subscriptionLimits: { maxSocketsPerUser: 2 } });
  try {
    const dana = `Bearer ${await token("capped-dana")}`;
    expect(await Promise.all([outcomeOf(openSocket(router.url, dana)), outcomeOf(openSocket(router.url, dana))])).toEqual(["open", "open"]);
    const third = openSocket(router.url, dana);
    expect(await third.closed).toBe(4429);
    expect(await outcomeOf(openSocket(router.url, `Bearer ${await token("capped-erin")}`))).toBe("open");
  } finally {
    await router.close();
  }
});

test("subscriptions per address are capped across sockets, anonymous ones included: RATE_LIMITED, the socket stays open", async () => {
  const router = await startRouter(stack.urls, { subscriptionLimits: { maxSubscriptionsPerIp: 2 } });
  try {
    const [a, b] = [openSocket(router.url), openSocket(router.url, `Bearer ${await token("capped-gina")}`)];
    await Promise.all([a.acked(), b.acked()]);
    a.subscribe("1", STOCK(productId));
    b.subscribe("1", STOCK(productId));
    await Promise.all([a.messages.waitFor((m) => m.type === "next"), b.messages.waitFor((m) => m.type === "next")]);
    a.subscribe("2", STOCK(productId));
    const refused = (await a.messages.waitFor((m) => m.id === "2")).at(-1);
    expect(refused).toMatchObject({ type: "error", payload: [{ message: "At most 2 subscriptions per address." }] });
    expect(refused.payload[0].extensions).toEqual({ code: "RATE_LIMITED", retryAfterMs: 1000 });
    // Ending a subscription gives its place back, to any socket of the address.
    b.socket.send(JSON.stringify({ id: "1", type: "complete" }));
    let attempt = 0;
    await eventually(
      async () => {
        const id = `again-${attempt++}`;
        a.subscribe(id, STOCK(productId));
        return (await a.messages.waitFor((m) => m.id === id)).at(-1).type === "next" ? true : undefined;
      },
      5_000,
      "a freed subscription slot",
    );
  } finally {
    await router.close();
  }
});

test("subscriptions per user are capped across sockets and streams: RATE_LIMITED, the socket stays open", async () => {
  const router = await startRouter(stack.urls, { subscriptionLimits: { maxSubscriptionsPerUser: 2 } });
  try {
    const frank = `Bearer ${await token("capped-frank")}`;
    const [a, b] = [openSocket(router.url, frank), openSocket(router.url, frank)];
    await Promise.all([a.acked(), b.acked()]);
    a.subscribe("1", STOCK(productId));
    b.subscribe("1", STOCK(productId));
    await Promise.all([a.messages.waitFor((m) => m.type === "next"), b.messages.waitFor((m) => m.type === "next")]);
    b.subscribe("2", STOCK(productId));
    const refused = (await b.messages.waitFor((m) => m.id === "2")).at(-1);
    expect(refused.type).toBe("error");
    expect(refused.payload[0].extensions).toEqual({ code: "RATE_LIMITED", retryAfterMs: 1000 });
    const stream = await fetch(router.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: 'multipart/mixed;subscriptionSpec="1.0", application/json', authorization: frank },
      body: JSON.stringify({ query: STOCK(productId) }),
    });
    expect(stream.status).toBe(429);
    // Completing one gives its place back, on either socket.
    a.socket.send(JSON.stringify({ id: "1", type: "complete" }));
    let attempt = 2;
    const next = await eventually(async () => {
      const id = String(++attempt);
      b.subscribe(id, STOCK(productId));
      const answer = (await b.messages.waitFor((m) => m.id === id)).at(-1);
      return answer.type === "next" ? answer : undefined;
    }, 5_000);
    expect(next.payload.data.stockChanged.available).toBe(3);
  } finally {
    await router.close();
  }
});
