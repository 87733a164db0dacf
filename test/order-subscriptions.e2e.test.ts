import { randomUUID } from "node:crypto";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { adminToken, startStack, token, type Stack } from "./harness.ts";
import { createProduct, line, orderInput, PAY_ORDER, PLACE_ORDER } from "./orders.ts";
import { publish } from "../common/kafka/publish.ts";
import type { OrderEvent } from "../common/events.ts";
import { received } from "./wait.ts";

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
  const results = received<any>(`orderStatusChanged(${orderId})`);
  const stop = client.subscribe(
    { query: STATUS, variables: { id: orderId } },
    {
      next: (value) => results.push(value),
      error: (error) => results.end(`failed with ${error instanceof Error ? error.message : JSON.stringify(error)}`),
      complete: () => results.end("completed"),
    },
  );
  return Object.assign(results, { stop });
}

type Watch = ReturnType<typeof subscribe>;
const statusOf = (result: any): string | undefined => result.data?.orderStatusChanged?.status;
const statuses = (results: any[]) => results.map(statusOf);
const settled = (result: any) => statusOf(result) === "CONFIRMED" || statusOf(result) === "CANCELLED";

/**
 * Waits until the order subgraph listens for this order's events on behalf of every watch. orderStatusChanged
 * sends no current value, only transitions, so nothing the server sends on its own says it listens. The
 * placement's RESERVED event does, once it comes through: it is sent again (the very event, same id, from the
 * outbox, as a relay that crashed before marking it sent would) until every watch has it. The subscription
 * skips event ids it has already sent, so each watch sees RESERVED exactly once, whichever copy reached it.
 */
async function untilListening(orderId: string, watches: Watch[]) {
  const outbox = await stack.prisma.outboxEvent.findFirstOrThrow({ where: { topic: "order", key: orderId }, orderBy: { id: "asc" } });
  const placement = outbox.payload as unknown as OrderEvent;
  expect(placement.data.order.status).toBe("RESERVED");
  const heard = Promise.all(watches.map((w) => w.waitFor((r) => statusOf(r) === "RESERVED")));
  const resend = () => void publish(stack.kafka, stack.producer, "order", [placement]).catch(() => undefined);
  resend();
  const timer = setInterval(resend, 250);
  try {
    await heard;
  } finally {
    clearInterval(timer);
  }
}

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
  await untilListening(orderId, [watch, adminWatch]);
  await stack.gql(PAY_ORDER, { id: orderId, token: "tok_visa" }, { token: user });
  for (const w of [watch, adminWatch]) {
    const results = await w.waitFor(settled);
    w.stop();
    expect(statuses(results)).toEqual(["RESERVED", "PAID", "CONFIRMED"]);
    expect(results.at(-1).data.orderStatusChanged).toMatchObject({
      id: orderId,
      totalCents: 2 * 1_000,
      items: [{ quantity: 2, product: { name: "Status lamp" } }],
    });
  }
});

test("a declined payment ends in CANCELLED with its reason", async () => {
  const user = await token(`buyer-${randomUUID()}`);
  const orderId = await place(user);
  const watch = subscribe(user, orderId);
  await untilListening(orderId, [watch]);
  await stack.gql(PAY_ORDER, { id: orderId, token: "tok_declined" }, { token: user });
  const results = await watch.waitFor(settled);
  watch.stop();
  expect(statuses(results)).toEqual(["RESERVED", "CANCELLED"]);
  expect(results.at(-1).data.orderStatusChanged.cancelReason).toBe("payment_declined");
});

test("someone else's order is FORBIDDEN, no token is UNAUTHENTICATED, an unknown order is NOT_FOUND", async () => {
  const owner = await token(`buyer-${randomUUID()}`);
  const orderId = await place(owner);
  // The refusal arrives as the subscription's one result (`errors`, no data), then it completes.
  const codeOf = async (watch: Watch) => (await watch.first()).errors?.[0]?.extensions?.code;
  expect(await codeOf(subscribe(await token(`other-${randomUUID()}`), orderId))).toBe("FORBIDDEN");
  expect(await codeOf(subscribe(null, orderId))).toBe("UNAUTHENTICATED");
  expect(await codeOf(subscribe(owner, randomUUID()))).toBe("NOT_FOUND");
});
