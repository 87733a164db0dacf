import WebSocket from "ws";
import { adminToken, config, startRouter, startStack, token, type Stack } from "./harness.ts";
import { signClientToken } from "../common/identity.ts";
import { received } from "./wait.ts";
import { createProduct } from "./orders.ts";

// A token's life is measured in whole seconds (`exp`): one that expires at the next second but one lives 1-2 s.
const shortLivedToken = (sub: string) => signClientToken(config.JWT_SECRET, sub, [], Math.floor(Date.now() / 1000) + 2);

let stack: Stack;
let productId: string;
beforeAll(async () => {
  stack = await startStack();
  productId = (await createProduct(stack.gql, await adminToken(), 4, { name: "Expiring lamp" })).id;
});
afterAll(() => stack.close());

const STOCK = (id: string) => `subscription { stockChanged(productIds: ["${id}"]) { available } }`;

/** A raw graphql-transport-ws socket: every message it receives, and its close code. */
async function openSocket(url: string, authorization: string) {
  const socket = new WebSocket(url.replace(/^http/, "ws"), "graphql-transport-ws");
  const messages = received<any>("socket");
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on("close", (code, reason) => {
      messages.end(`closed with ${code}`);
      resolve({ code, reason: reason.toString() });
    }),
  );
  socket.on("message", (data) => messages.push(JSON.parse(data.toString())));
  await new Promise((resolve) => socket.once("open", resolve));
  socket.send(JSON.stringify({ type: "connection_init", payload: { authorization } }));
  await messages.waitFor((m) => m.type === "connection_ack");
  const subscribe = (id: string, query: string) => socket.send(JSON.stringify({ id, type: "subscribe", payload: { query } }));
  return { socket, messages, closed, subscribe };
}

test("a live subscription's socket is closed with 4403 when its token expires", async () => {
  const started = Date.now();
  const token = await shortLivedToken("expiring-alice");
  const { messages, closed, subscribe } = await openSocket(stack.routerUrl, `Bearer ${token}`);
  subscribe("1", STOCK(productId));
  expect((await messages.waitFor((m) => m.type === "next")).at(-1).payload.data.stockChanged.available).toBe(4);
  const { code, reason } = await closed;
  expect({ code, reason }).toEqual({ code: 4403, reason: "Token has expired" });
  // Closed at `exp`, not before it and not at the next ping (12 s).
  const exp = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).exp * 1000;
  expect(Date.now()).toBeGreaterThanOrEqual(exp);
  expect(Date.now() - started).toBeLessThan(5_000);
});

test("a subscribe after the token's expiry closes the socket with 4403 and starts nothing", async () => {
  // The router's clock is moved past the token's expiry after the socket opened, so the timer has not fired:
  // what refuses the subscribe is the check on every subscribe.
  let skewMs = 0;
  const router = await startRouter(stack.urls, { now: () => Date.now() + skewMs });
  try {
    const { messages, closed, subscribe } = await openSocket(router.url, `Bearer ${await token("late-bob")}`);
    subscribe("1", STOCK(productId));
    await messages.waitFor((m) => m.type === "next");
    skewMs = 13 * 60 * 60 * 1000; // past the 12 h development token
    subscribe("2", STOCK(productId));
    expect((await closed).code).toBe(4403);
    expect(messages.events.filter((m) => m.id === "2" && m.type === "next")).toEqual([]);
  } finally {
    await router.close();
  }
});

test("a multipart subscription ends with an UNAUTHENTICATED part when its token expires", async () => {
  const response = await fetch(stack.routerUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: 'multipart/mixed;subscriptionSpec="1.0", application/json',
      authorization: `Bearer ${await shortLivedToken("expiring-carol")}`,
    },
    body: JSON.stringify({ query: STOCK(productId) }),
  });
  expect(response.status).toBe(200);
  let text = "";
  const reader = response.body!.getReader();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
  // The stream ended (the loop above finished): the router closed it after the expiry part and the final delimiter.
  expect(text).toContain('{"payload":{"data":{"stockChanged":{"available":4}}}}');
  expect(
    text.endsWith('\r\n\r\n{"payload":null,"errors":[{"message":"Token has expired.","extensions":{"code":"UNAUTHENTICATED"}}]}\r\n--graphql--\r\n'),
  ).toBe(true);
});
