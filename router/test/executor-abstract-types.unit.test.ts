import { graphql, GraphQLError, parse, type DocumentNode, type GraphQLSchema } from "graphql";
import { composeServices } from "@apollo/composition";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { operationFromDocument, Supergraph } from "@apollo/federation-internals";
import { QueryPlanner } from "@apollo/query-planner";
import { buildOperationContext, executeQueryPlan, type GraphQLDataSource, type ServiceMap } from "@apollo/gateway";
import type { GatewayGraphQLRequestContext } from "@apollo/server-gateway-interface";
import { createProgramCompiler, Fallback } from "../src/executor/program.ts";
import { execute, serialise } from "../src/executor/respond.ts";
import type { FetchRoute } from "../src/executor/fetch.ts";

// The platform's own schema has no interface or union, so the executor's handling of abstract types,
// `__typename`, `@requires` and `@provides` is held to @apollo/gateway's here, on a small federation of three
// in-process subgraphs: the same plan run by gateway-js `executeQueryPlan` and by the executor, over the same
// subgraph answers (JSON, as over HTTP), must give the same response body.

const LINK = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@external", "@provides", "@requires", "@shareable"])`;

const catalog = {
  typeDefs: parse(`${LINK}
    interface Media { id: ID! title: String! }
    type Book implements Media @key(fields: "id") { id: ID! title: String! pages: Int author: Author @provides(fields: "name") }
    type Movie implements Media @key(fields: "id") { id: ID! title: String! minutes: Int! }
    type Author @key(fields: "id") { id: ID! name: String! @external }
    union Result = Book | Movie | Author
    type Query { media: [Media!]! results: [Result]! firstMedia: Media strict: [Media!] broken: Media }`),
  resolvers: {
    Media: { __resolveType: (m: { kind: string }) => m.kind },
    Result: { __resolveType: (m: { kind: string }) => m.kind },
    Query: {
      media: () => [BOOKS.b1, MOVIES.m1, BOOKS.b2],
      results: () => [BOOKS.b1, null, { kind: "Author", id: "a2", name: "Bo" }, MOVIES.m1],
      firstMedia: () => MOVIES.m1,
      strict: () => [BOOKS.b1, BOOKS.b2],
      broken: () => {
        throw new GraphQLError("no media today", { extensions: { code: "NOT_FOUND" } });
      },
    },
    Book: { __resolveReference: (ref: { id: string }) => BOOKS[ref.id as keyof typeof BOOKS] },
    Movie: { __resolveReference: (ref: { id: string }) => MOVIES[ref.id as keyof typeof MOVIES] },
  },
};

const BOOKS = {
  b1: { kind: "Book", id: "b1", title: "Dune", pages: 412, author: { id: "a1", name: "Frank" } },
  b2: { kind: "Book", id: "b2", title: "Missing reviews", pages: null, author: null },
};
const MOVIES = { m1: { kind: "Movie", id: "m1", title: "Alien", minutes: 117 } };

const people = {
  typeDefs: parse(`${LINK}
    type Author @key(fields: "id") { id: ID! name: String! @shareable born: Int }
    type Query { author(id: ID!): Author }`),
  resolvers: {
    Query: { author: (_: unknown, { id }: { id: string }) => ({ id, name: "Frank", born: 1920 }) },
    Author: {
      __resolveReference: (ref: { id: string }) =>
        ref.id === "a1" ? { id: "a1", name: "Frank", born: 1920 } : { id: ref.id, name: "Bo", born: null },
    },
  },
};

const reviews = {
  typeDefs: parse(`${LINK}
    type Book @key(fields: "id") { id: ID! reviews: [Review!]! }
    type Movie @key(fields: "id") { id: ID! minutes: Int! @external rating: Float @requires(fields: "minutes") reviews: [Review!]! }
    type Review { body: String! stars: Int! }`),
  resolvers: {
    Book: {
      __resolveReference: (ref: { id: string }) => ref,
      reviews: (book: { id: string }) => {
        if (book.id === "b2") throw new GraphQLError("No reviews for this book.", { extensions: { code: "NOT_FOUND" } });
        return [
          { body: "Great", stars: 5 },
          { body: "Long", stars: null },
        ];
      },
    },
    Movie: {
      __resolveReference: (ref: { id: string; minutes?: number }) => ref,
      rating: (movie: { minutes?: number }) => (movie.minutes ?? 0) / 10,
      reviews: () => [{ body: "Scary", stars: 4 }],
    },
  },
};

const SUBGRAPHS = { catalog, people, reviews };
const schemas: Record<string, GraphQLSchema> = Object.fromEntries(
  Object.entries(SUBGRAPHS).map(([name, s]) => [name, buildSubgraphSchema([{ typeDefs: s.typeDefs, resolvers: s.resolvers as never }])]),
);

/** A subgraph's answer as HTTP carries it: the executed result as JSON text. */
async function answer(serviceName: string, request: { query: string; variables?: Record<string, unknown>; operationName?: string }): Promise<string> {
  const result = await graphql({
    schema: schemas[serviceName]!,
    source: request.query,
    variableValues: request.variables,
    operationName: request.operationName,
  });
  return JSON.stringify(result);
}

const composed = composeServices(Object.entries(SUBGRAPHS).map(([name, s]) => ({ name, typeDefs: s.typeDefs, url: `http://${name}` })));
if (!composed.supergraphSdl) throw new Error(`composition failed: ${JSON.stringify(composed.errors)}`);
const supergraph = Supergraph.build(composed.supergraphSdl);
const apiSchema = supergraph.apiSchema();
const schema = apiSchema.toGraphQLJSSchema();
const supergraphSchema = supergraph.schema.toGraphQLJSSchema();
const queryPlanner = new QueryPlanner(supergraph);
const routes: Record<string, FetchRoute> = Object.fromEntries(
  Object.keys(SUBGRAPHS).map((name) => [name, { serviceName: name, origin: `http://${name}`, path: "/", url: `http://${name}/` }]),
);
const compile = createProgramCompiler({ apiSchema, schema, supergraphSchema, queryPlanner, supergraph, routes });

async function throughGateway(document: DocumentNode, variables: Record<string, unknown> | undefined): Promise<string> {
  const services: ServiceMap = {};
  for (const name of Object.keys(SUBGRAPHS)) {
    services[name] = {
      process: async ({ request }) => JSON.parse(await answer(name, request as never)) as never,
    } as GraphQLDataSource;
  }
  const operationContext = buildOperationContext({ schema, operationDocument: document });
  const plan = queryPlanner.buildQueryPlan(operationFromDocument(apiSchema, document));
  const requestContext = {
    request: { variables },
    context: {},
    metrics: {},
    operation: operationContext.operation,
  } as unknown as GatewayGraphQLRequestContext;
  const result = await executeQueryPlan(plan, services, requestContext, operationContext, supergraphSchema, apiSchema);
  const status = result.errors?.length && result.data === undefined ? 400 : 200;
  return serialise({ status, ...result, errors: result.errors ? [...result.errors] : undefined }, "r").body;
}

async function throughExecutor(query: string, variables: Record<string, unknown> | undefined): Promise<string> {
  const program = compile(query, undefined);
  if (program instanceof Fallback) throw new Error(`fell back: ${program.reason}`);
  const outcome = await execute(program, {
    variables,
    errors: [],
    call: async (to, body) => ({ status: 200, text: await answer(to.serviceName, JSON.parse(body) as never) }),
  });
  return serialise(outcome, "r").body;
}

test.each([
  [
    "an interface list with type conditions across three subgraphs",
    "{ media { __typename id title ... on Book { pages reviews { body stars } author { name born } } ... on Movie { minutes rating reviews { stars } } } }",
  ],
  [
    "a union with a null element",
    "{ results { __typename ... on Book { title author { name } } ... on Author { name born } ... on Movie { rating } } }",
  ],
  ["@requires through an interface", "{ firstMedia { id ... on Movie { rating } } }"],
  [
    "aliased __typename and named fragments on the interface",
    "{ m: media { t: __typename ... on Media { title } ...B } } fragment B on Book { id reviews { stars } }",
  ],
  ["a non-null list element failing", "{ strict { id ... on Book { reviews { stars } } } }"],
  ["a root error on an abstract field", "{ broken { id } media { id } }"],
  ["@provides (the author's name from catalog, born from people)", "{ media { ... on Book { author { id name born } } } }"],
])("%s", async (_name, query) => {
  expect(await throughExecutor(query, undefined)).toBe(await throughGateway(parse(query), undefined));
});

test.each([true, false])("@include on a field another subgraph resolves (Condition node), if: %s", async (withRating) => {
  const query = "query($withRating: Boolean!) { media { id ... on Movie { rating @include(if: $withRating) } } }";
  expect(await throughExecutor(query, { withRating })).toBe(await throughGateway(parse(query), { withRating }));
});
