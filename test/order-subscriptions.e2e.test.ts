import { randomUUID } from "node:crypto";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { adminToken, startStack, token, type Stack } from "./harness.ts";
import { createProduct, line, orderInput, PAY_ORDER, PLACE_ORDER } from "../subgraphs/order/test/support.ts";

let stack: Stack;
let admin: string;
const clients: Client[] = [];
beforeAll(async () => {
  stack = await startStack({ relay: true, order: { workers: true } });
  admin = await adminToken();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await stack.close();
});

const STATUS = `subscription($id: ID!) { orderStatusChanged(orderId: $id) { id status cancelReason totalCents items { quantity product { name } } } }`;

function subscribe(userToken: string | null, orderId: string) {
  const client = createClient({
    url: stack.routerUrl.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: userToken ? { authorization: `Bearer ${userToken}` } : {},
    retryAttempts: 0,
  });
  clients.push(client);
  const results: any[] = [];
  let settle: (value: any[]) => void = () => undefined;
  const done = new Promise<any[]>((resolve) => (settle = resolve));
  const stop = client.subscribe({ query: STATUS, variables: { id: orderId } }, {
    next: (value: any) => {
      results.push(value);
      const status = value.data?.orderStatusChanged?.status;
      if (status === "CONFIRMED" || status === "CANCELLED") settle(results);
    },
    error: (error) => settle([{ error }]),
    complete: () => settle(results),
  });
  return { done, stop };
}

/**
 * The statuses a subscriber saw, in order. Under load the placement's own RESERVED event can still be on its
 * way (outbox relay, Kafka) when the subscription starts; it is a transition like any other and then arrives
 * first. Only that leading RESERVED is set aside; everything after it must be exact.
 */
const statusesAfterPlacement = (results: any[]) => {
  const statuses: string[] = results.map((r) => r.data.orderStatusChanged.status);
  return statuses[0] === "RESERVED" ? statuses.slice(1) : statuses;
};

async function place(user: string) {
  const product = await createProduct(stack.gql, admin, 5, { name: "Status lamp" });
  const res = await stack.gql(PLACE_ORDER, { input: orderInput([line(product, 2)]) }, { token: user });
  expect(res.errors).toBeUndefined();
  return res.data!.placeOrder.id as string;
}

test("the owner sees every transition once, in order, with product fields from the product subgraph", async () => {
  const user = await token(`buyer-${randomUUID()}`);
  const orderId = await place(user);
  const watch = subscribe(user, orderId);
  const adminWatch = subscribe(admin, orderId);
  await new Promise((r) => setTimeout(r, 500));
  await stack.gql(PAY_ORDER, { id: orderId, token: "tok_visa" }, { token: user });
  for (const results of [await watch.done, await adminWatch.done]) {
    expect(statusesAfterPlacement(results)).toEqual(["PAID", "CONFIRMED"]);
    expect(results.at(-1).data.orderStatusChanged).toMatchObject({ id: orderId, totalCents: 2 * 1_000, items: [{ quantity: 2, product: { name: "Status lamp" } }] });
  }
});

test("a declined payment ends in CANCELLED with its reason", async () => {
  const user = await token(`buyer-${randomUUID()}`);
  const orderId = await place(user);
  const watch = subscribe(user, orderId);
  await new Promise((r) => setTimeout(r, 500));
  await stack.gql(PAY_ORDER, { id: orderId, token: "tok_declined" }, { token: user });
  const results = await watch.done;
  expect(statusesAfterPlacement(results)).toEqual(["CANCELLED"]);
  expect(results.at(-1).data.orderStatusChanged.cancelReason).toBe("payment_declined");
});

test("someone else's order is FORBIDDEN, no token is UNAUTHENTICATED, an unknown order is NOT_FOUND", async () => {
  const owner = await token(`buyer-${randomUUID()}`);
  const orderId = await place(owner);
  // The refusal arrives as the subscription's one result (`errors`, no data), then it completes.
  const codeOf = ([result]: any[]) => result.errors?.[0]?.extensions?.code;
  expect(codeOf(await subscribe(await token(`other-${randomUUID()}`), orderId).done)).toBe("FORBIDDEN");
  expect(codeOf(await subscribe(null, orderId).done)).toBe("UNAUTHENTICATED");
  expect(codeOf(await subscribe(owner, randomUUID()).done)).toBe("NOT_FOUND");
});
