import http from "node:http";
import { parse } from "graphql";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { appError, ErrorCode } from "../errors.ts";
import { createLogger } from "../logger.ts";
import type { BaseContext } from "../service.ts";
import { createSchemaService } from "../subgraph.ts";
import { createFastPath } from "../http/fast-path.ts";
import { readBody } from "../http/graphql.ts";
import { Prisma } from "../prisma.ts";

// Subgraphs answer known-valid JSON POSTs on graphql-js directly (common/http/fast-path.ts). A client (the
// router) must not be able to tell: the same requests to a service with and one without the fast path give
// the same status, content type and body.
const items: Record<string, { id: string; name: string }> = { "1": { id: "1", name: "Lamp" } };
const schema = buildSubgraphSchema([
  {
    typeDefs: parse(`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
    type Item @key(fields: "id") { id: ID! name: String! }
    type Query { item(id: ID!): Item  boom: String  never: String!  database: String }
    type Mutation { buy(quantity: Int!): Item! }
  `),
    resolvers: {
      Query: {
        item: (_: unknown, { id }: { id: string }) => {
          if (!items[id]) throw appError(ErrorCode.NOT_FOUND, `Item ${id} does not exist.`);
          return items[id];
        },
        boom: () => {
          throw new Error("a secret internal detail");
        },
        never: () => null,
        // What Prisma throws for `searchProducts(query: "a\u0000b")`: PostgreSQL refuses the NUL byte.
        database: () => {
          throw new Prisma.PrismaClientKnownRequestError(
            'Raw query failed. Code: `22021`. Message: `invalid byte sequence for encoding "UTF8": 0x00`',
            {
              code: "P2010",
              clientVersion: "7.10.0",
              meta: { code: "22021", message: 'invalid byte sequence for encoding "UTF8": 0x00' },
            },
          );
        },
      },
      Mutation: {
        buy: (_: unknown, { quantity }: { quantity: number }) => {
          if (quantity < 1) throw appError(ErrorCode.BAD_USER_INPUT, "quantity must be at least 1", { field: "quantity" });
          return items["1"];
        },
      },
      Item: { __resolveReference: (ref: { id: string }) => items[ref.id] ?? null },
    } as never,
  },
]);

const logger = createLogger("test", "silent");
const services: Awaited<ReturnType<typeof createSchemaService>>[] = [];
const urls: string[] = [];
beforeAll(async () => {
  for (const fastPath of [true, false]) {
    const service = await createSchemaService<BaseContext>({
      name: "fast-path-test",
      schema,
      logger,
      readiness: [],
      fastPath,
      context: async (base) => base,
    });
    services.push(service);
    urls.push(`http://127.0.0.1:${await service.listen(0, "127.0.0.1")}/graphql`);
  }
});
afterAll(async () => {
  for (const service of services) await service.close();
});

// The request id the router would forward; masked errors name it, so both paths must give the same one.
const REQUEST_ID = "fast-path-request";
const post = async (url: string, body: string) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-request-id": REQUEST_ID }, body });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    requestId: response.headers.get("x-request-id"),
    body: (await response.json()) as unknown,
  };
};

test.each([
  ["an answer", { query: `{ item(id: "1") { id name } }` }],
  ["a named operation with variables", { query: `query One($id: ID!) { item(id: $id) { name } }`, variables: { id: "1" }, operationName: "One" }],
  ["an application error", { query: `query($id: ID!) { item(id: $id) { name } }`, variables: { id: "404" } }],
  ["an internal error, masked", { query: `{ boom }` }],
  ["null for a non-null field, masked", { query: `{ never }` }],
  ["a mutation refused with BAD_USER_INPUT", { query: `mutation { buy(quantity: 0) { id } }` }],
  ["a missing variable (400)", { query: `query($id: ID!) { item(id: $id) { id } }`, variables: {} }],
  ["a variable of the wrong type (400)", { query: `query($id: ID!) { item(id: $id) { id } }`, variables: { id: { not: "an id" } } }],
  ["an invalid document (400)", { query: `{ nope }` }],
  ["a syntax error (400)", { query: `{ item(` }],
  ["variables that are not an object (400)", { query: `{ item(id: "1") { id } }`, variables: "[]" }],
  ["an unknown operationName", { query: `query A { boom }`, operationName: "B" }],
  ["several operations, one chosen", { query: `query A { boom } query B { item(id: "1") { name } }`, operationName: "B" }],
  ["the gateway's _service", { query: `{ _service { sdl } }` }],
  [
    "the gateway's _entities",
    {
      query: `query($r: [_Any!]!) { _entities(representations: $r) { ... on Item { name } } }`,
      variables: {
        r: [
          { __typename: "Item", id: "1" },
          { __typename: "Item", id: "2" },
        ],
      },
    },
  ],
])("%s", async (_name, body) => {
  const text = JSON.stringify(body);
  const [fast, apollo] = [await post(urls[0]!, text), await post(urls[1]!, text)];
  expect(fast).toEqual(apollo);
  expect(fast.requestId).toBe(REQUEST_ID);
});

// The equality above holds a fast path to Apollo Server's answer; this holds both to the public contract
// (docs/API.md): an unexpected error is `Internal server error` / INTERNAL_SERVER_ERROR with the request id, and
// nothing of it.
test.each([
  ["a plain Error", "boom", "a secret internal detail"],
  ["a database error", "database", "22021"],
])("%s is masked on both paths, with nothing of its text in the body", async (_name, field, internal) => {
  for (const url of urls) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": REQUEST_ID },
      body: JSON.stringify({ query: `{ ${field} }` }),
    });
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(JSON.parse(text)).toEqual({
      data: { [field]: null },
      errors: [
        {
          message: "Internal server error",
          locations: [{ line: 1, column: 3 }],
          path: [field],
          extensions: { code: "INTERNAL_SERVER_ERROR", requestId: REQUEST_ID },
        },
      ],
    });
    for (const leak of [internal, "invalid byte sequence", "P2010", "stacktrace"]) expect(text).not.toContain(leak);
  }
});

test("the fast path counts operations in the same metrics", async () => {
  await post(urls[0]!, JSON.stringify({ query: `query Counted($id: ID!) { item(id: $id) { name } }`, variables: { id: "404" } }));
  const metrics = await (await fetch(urls[0]!.replace(/graphql$/, "metrics"))).text();
  expect(metrics).toMatch(/graphql_operations_total\{[^}]*operation="Counted"[^}]*outcome="NOT_FOUND"[^}]*\} 1/);
});

test("the fast path answers known-valid queries and mutations and leaves everything else to Apollo Server", async () => {
  const fast = createFastPath<BaseContext>({ schema, context: async () => ({ requestId: "r", logger }), record: () => undefined });
  // Only the fast path: what it leaves to Apollo Server is answered 599 here.
  const answer = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!(await fast(req, res, await readBody(req)))) res.writeHead(599).end("{}");
  };
  const server = http.createServer((req, res) => void answer(req, res).catch((error: Error) => res.destroy(error)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`;
  const status = async (body: unknown) =>
    (await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).status;
  try {
    expect(await status({ query: `{ item(id: "1") { id } }` })).toBe(200);
    expect(await status({ query: `{ boom }` })).toBe(200);
    expect(await status({ query: `mutation { buy(quantity: 0) { id } }` })).toBe(200);
    expect(await status({ query: `query A { boom } query B { item(id: "1") { name } }`, operationName: "B" })).toBe(200);
    expect(await status({ query: `query($id: ID!) { item(id: $id) { id } }`, variables: {} })).toBe(599);
    expect(await status({ query: `{ nope }` })).toBe(599);
    expect(await status({ query: `{ item(` })).toBe(599);
    expect(await status({ query: `{ boom }`, variables: "[]" })).toBe(599);
    expect(await status({ query: `{ boom }`, extensions: { persistedQuery: { version: 1, sha256Hash: "x" } } })).toBe(599);
    expect(await status({ query: `query A { boom }`, operationName: "B" })).toBe(599);
    expect(await status({ query: `subscription { x }` })).toBe(599);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
