import { ApolloClient, InMemoryCache, HttpLink, gql as tag, split } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { adminToken, startStack, uniqueSku, type Stack } from "./harness.ts";

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

/** Subscribes with Apollo Client and resolves with the `available` values seen until `last` arrives. */
function watchAvailable(client: ApolloClient, id: string, last: number) {
  const values: number[] = [];
  return new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out with ${JSON.stringify(values)}`)), 15_000);
    const subscription = client.subscribe({ query: STOCK, variables: { ids: [id] } }).subscribe({
      next: (result: any) => {
        if (result.error) return reject(result.error);
        values.push(result.data.stockChanged.available);
        expect(result.data.stockChanged.product.name).toBe("Client lamp");
        if (values.at(-1) === last) {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(values);
        }
      },
      error: reject,
    });
  });
}

test("Apollo Client over HTTP multipart subscriptions", async () => {
  const id = await createProduct(2);
  const client = new ApolloClient({ cache: new InMemoryCache(), link: new HttpLink({ uri: stack.routerUrl, fetch }) });
  const seen = watchAvailable(client, id, 5);
  await new Promise((r) => setTimeout(r, 500));
  await stack.gql(`mutation($id: ID!) { restock(productId: $id, quantity: 3) { available } }`, { id }, { token: admin });
  expect(await seen).toEqual([2, 5]);
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
  const seen = watchAvailable(client, id, 4);
  await new Promise((r) => setTimeout(r, 500));
  await stack.gql(`mutation($id: ID!) { restock(productId: $id, quantity: 3) { available } }`, { id }, { token: admin });
  expect(await seen).toEqual([1, 4]);
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
  expect(text.startsWith('\r\n--graphql\r\ncontent-type: application/json; charset=utf-8\r\n\r\n{}\r\n--graphql\r\n')).toBe(true);
  expect(text).toContain('\r\n\r\n{"payload":{"data":{"stockChanged":{"available":9}}}}\r\n--graphql');

  const plain = await fetch(stack.routerUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { available } }`, variables: { ids: [id] } }),
  });
  expect(plain.status).toBe(400);
  expect(((await plain.json()) as any).errors[0].extensions.code).toBe("BAD_REQUEST");
});
