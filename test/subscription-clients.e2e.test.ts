import { ApolloClient, InMemoryCache, HttpLink, gql as tag, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { adminToken, startStack, uniqueSku, type Stack } from "./harness.ts";
import { received } from "./wait.ts";

let stack: Stack;
let admin: string;
beforeAll(async () => {
  stack = await startStack({ relay: true });
  admin = await adminToken();
});
afterAll(() => stack.close());

async function createProduct(initialStock: number) {
  const res = await stack.gql(
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
    { input: { sku: uniqueSku("APC"), name: "Client lamp", description: "", priceCents: 990, currency: "USD", initialStock } },
    { token: admin },
  );
  return res.data!.createProduct.id as string;
}

const STOCK = tag`
  subscription Stock($ids: [ID!]!) {
    stockChanged(productIds: $ids) { productId available product { id name } }
  }
`;

/**
 * Subscribes with Apollo Client and records each `stockChanged`. The current value comes first, once the server
 * listens for changes, so a change made after `first()` resolves is delivered.
 */
function watchStock(client: ApolloClient, id: string) {
  const seen = received<{ available: number; product: { name: string } }>("stockChanged");
  const subscription = client.subscribe({ query: STOCK, variables: { ids: [id] } }).subscribe({
    next: (result: any) => (result.error ? seen.end(`failed with ${result.error.message}`) : seen.push(result.data.stockChanged)),
    error: (error) => seen.end(`failed with ${error.message}`),
    complete: () => seen.end("completed"),
  });
  return Object.assign(seen, { stop: () => subscription.unsubscribe() });
}

/** The `available` values up to `last`, each with the product name resolved through the federation. */
async function availableUntil(watch: ReturnType<typeof watchStock>, last: number) {
  const changes = await watch.waitFor((change) => change.available === last);
  watch.stop();
  for (const change of changes) expect(change.product.name).toBe("Client lamp");
  return changes.map((change) => change.available);
}

test("Apollo Client over HTTP multipart subscriptions", async () => {
  const id = await createProduct(2);
  const client = new ApolloClient({ cache: new InMemoryCache(), link: new HttpLink({ uri: stack.routerUrl, fetch }) });
  const watch = watchStock(client, id);
  await watch.first();
  await stack.gql(`mutation($id: ID!) { restock(productId: $id, quantity: 3) { available } }`, { id }, { token: admin });
  expect(await availableUntil(watch, 5)).toEqual([2, 5]);
  client.stop();
});

test("Apollo Client with its graphql-ws link, split from HTTP for queries", async () => {
  const id = await createProduct(1);
  const ws = createClient({ url: stack.routerUrl.replace(/^http/, "ws"), webSocketImpl: WebSocket });
  const link = split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === "OperationDefinition" && def.operation === "subscription";
    },
    new GraphQLWsLink(ws),
    new HttpLink({ uri: stack.routerUrl, fetch }),
  );
  const client = new ApolloClient({ cache: new InMemoryCache(), link });
  const query = await client.query({ query: tag`query One($id: ID!) { product(id: $id) { id name stock { available } } }`, variables: { id } });
  expect((query.data as any).product.stock.available).toBe(1);
  const watch = watchStock(client, id);
  await watch.first();
  await stack.gql(`mutation($id: ID!) { restock(productId: $id, quantity: 3) { available } }`, { id }, { token: admin });
  expect(await availableUntil(watch, 4)).toEqual([1, 4]);
  client.stop();
  await ws.dispose();
});

test("multipart wire format: heartbeat part first, JSON payload parts, and a subscription without multipart Accept is refused", async () => {
  const id = await createProduct(9);
  const controller = new AbortController();
  const response = await fetch(stack.routerUrl, {
    method: "POST",
    headers: { "content-type": "application/json", accept: 'multipart/mixed;subscriptionSpec="1.0", application/json' },
    body: JSON.stringify({ query: `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { available } }`, variables: { ids: [id] } }),
    signal: controller.signal,
  });
  expect(response.headers.get("content-type")).toBe('multipart/mixed;boundary="graphql";subscriptionSpec="1.0"');
  const reader = response.body!.getReader();
  let text = "";
  while (!text.includes('"available":9')) text += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
  expect(text.startsWith("\r\n--graphql\r\ncontent-type: application/json; charset=utf-8\r\n\r\n{}\r\n--graphql\r\n")).toBe(true);
  expect(text).toContain('\r\n\r\n{"payload":{"data":{"stockChanged":{"available":9}}}}\r\n--graphql');

  const plain = await fetch(stack.routerUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { available } }`, variables: { ids: [id] } }),
  });
  expect(plain.status).toBe(400);
  expect(((await plain.json()) as any).errors[0].extensions.code).toBe("BAD_REQUEST");
});
