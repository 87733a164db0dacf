import type http from "node:http";
import { BREAK, getOperationAST, parse, validate, visit, type DocumentNode, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { operationFromDocument } from "@apollo/federation-internals";
import { LRUCache } from "lru-cache";
import { ErrorCode, formatError, INTERNAL_ERROR_MESSAGE } from "../../common/errors.ts";
import type { Identity } from "../../common/identity.ts";
import type { Logger } from "../../common/logger.ts";
import type { Metrics } from "../../common/metrics.ts";
import { CLIENT_IP_HEADER, REQUEST_ID_HEADER, requestIdOf } from "../../common/forwarded-headers.ts";
import { forwardedHeaders, type IdentitySigner } from "./forwarding.ts";
import type { SubscriptionPlanner } from "./subscriptions/planner.ts";

export interface PassthroughOptions {
  /** The router's supergraph and query planner (shared with the subscription planner). */
  planner: Pick<SubscriptionPlanner, "supergraph" | "apiSchema" | "schema" | "queryPlanner">;
  subgraphUrls: Record<string, string>;
  /** The caller's verified identity, once per request (server.ts). */
  identityOf: (req: http.IncomingMessage) => Promise<Identity>;
  sign: IdentitySigner;
  /** Sends an operation to its subgraph, batched with others of the same turn (subgraph-batch.ts). */
  send: (to: Route, headers: Record<string, string>, body: string) => Promise<{ status: number; text: string }>;
  metrics: Metrics;
  logger: Logger;
}

/** Where an operation goes: one subgraph that can answer the whole document as the client wrote it. */
interface Route {
  serviceName: string;
  origin: string;
  path: string;
  operationName: string;
}

interface GraphQLBody {
  query: string;
  operationName?: string | null;
  variables?: unknown;
  extensions?: { persistedQuery?: unknown };
}

/**
 * Whether a document asks for `__schema` or `__type` anywhere (fragments included). Introspection is the API
 * schema's, answered by the gateway under its INTROSPECTION setting: a subgraph would describe its own schema
 * (`_entities`, `_service`, fields the supergraph hides) whatever the router allows.
 */
function introspects(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Field(node) {
      if (node.name.value !== "__schema" && node.name.value !== "__type") return undefined;
      found = true;
      return BREAK;
    },
  });
  return found;
}

const isGraphQLBody = (body: unknown): body is GraphQLBody =>
  typeof body === "object" && body !== null && typeof (body as GraphQLBody).query === "string" && !(body as GraphQLBody).extensions?.persistedQuery;

/**
 * The router's fast path for queries and mutations the federation planner answers with a single fetch
 * (`flashPurchase`, `placeOrder`, `order(id)`, ...): the client's document is sent to that subgraph as it
 * is (documents holding several operations are left to the gateway), with the signed identity, and the
 * subgraph's answer goes back as the gateway would give it (errors carry `serviceName`, subgraph locations
 * are dropped). The decision is made once per document: it must be
 * valid against the API schema, plan to one `Fetch` with nothing to require or rewrite, and be valid against
 * that subgraph's own schema. Everything else (and every invalid document, so its errors are the gateway's)
 * goes through @apollo/gateway. Executing a plan costs the gateway ~2 ms of CPU per request; this is ~0.2.
 */
export function createPassthrough(options: PassthroughOptions) {
  const { apiSchema, schema: apiGraphQLSchema, queryPlanner: planner } = options.planner;
  const subgraphSchemas = new Map<string, GraphQLSchema>();
  for (const subgraph of options.planner.supergraph.subgraphs()) subgraphSchemas.set(subgraph.name, subgraph.schema.toGraphQLJSSchema());
  const routes = new LRUCache<string, Route | false>({ max: 2_000 });

  function plan(query: string, operationName: string | undefined): Route | false {
    try {
      const document = parse(query);
      const operation = getOperationAST(document, operationName);
      const operations = document.definitions.filter((d) => d.kind === "OperationDefinition").length;
      if (!operation || operations > 1 || operation.operation === "subscription" || introspects(document)) return false;
      if (validate(apiGraphQLSchema, document).length > 0) return false;
      const node = planner.buildQueryPlan(operationFromDocument(apiSchema, document, { operationName })).node;
      if (node?.kind !== "Fetch" || node.requires || node.inputRewrites?.length || node.outputRewrites?.length || node.contextRewrites?.length)
        return false;
      const subgraphSchema = subgraphSchemas.get(node.serviceName);
      const url = options.subgraphUrls[node.serviceName];
      if (!subgraphSchema || !url || validate(subgraphSchema, document).length > 0) return false;
      const { origin, pathname, search } = new URL(url);
      return { serviceName: node.serviceName, origin, path: pathname + search, operationName: operation.name?.value ?? "anonymous" };
    } catch {
      return false; // the gateway reports what is wrong with it
    }
  }

  /** The subgraph that answers `body` alone, or false for the gateway (decided once per document). */
  function routeFor(body: GraphQLBody): Route | false {
    const operationName = typeof body.operationName === "string" ? body.operationName : undefined;
    const key = `${operationName ?? ""}\u0000${body.query}`;
    let route = routes.get(key);
    if (route === undefined) routes.set(key, (route = plan(body.query, operationName)));
    return route;
  }

  /**
   * Gives execution errors the shape @apollo/gateway gives them, masked by the router's `formatError` as the
   * gateway's are (whatever the subgraph let through), with the request id. Request errors (4xx: variables that
   * do not coerce, ...) are the router's own in the gateway's case and already read the same, locations included.
   */
  function asGatewayErrors(status: number, text: string, serviceName: string, requestId: string): string {
    if (status !== 200 || !text.includes('"errors"')) return text;
    const result = JSON.parse(text) as { errors?: GraphQLFormattedError[] };
    if (!Array.isArray(result.errors)) return text;
    result.errors = result.errors.map(({ message, path, extensions }) =>
      formatError({ message, ...(path ? { path } : {}), extensions: { ...extensions, serviceName } }, requestId),
    );
    return JSON.stringify(result);
  }

  /** An intercept for `POST /graphql`: answers the request itself (true) or leaves it to the gateway (false). */
  const intercept = async (req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<boolean> => {
    if (req.method !== "POST" || !isGraphQLBody(body)) return false;
    const route = routeFor(body);
    if (!route) return false;
    const started = process.hrtime.bigint();
    const requestId = requestIdOf(req.headers);
    const identity = await options.identityOf(req);
    const clientIp = req.headers[CLIENT_IP_HEADER];
    const caller = { identity, requestId, clientIp: typeof clientIp === "string" ? clientIp : undefined };
    const headers = { "content-type": "application/json", ...forwardedHeaders(options.sign, caller) };
    let status = 200;
    let text: string;
    try {
      const upstream = await options.send(
        route,
        headers,
        JSON.stringify({ query: body.query, operationName: body.operationName, variables: body.variables }),
      );
      // As the gateway takes a subgraph's 5xx: a failed call, whatever its body says.
      if (upstream.status >= 500) throw new Error(`${route.serviceName} answered ${upstream.status}: ${upstream.text.slice(0, 500)}`);
      status = upstream.status;
      text = asGatewayErrors(status, upstream.text, route.serviceName, requestId);
    } catch (error) {
      options.logger.error({ err: error, requestId, subgraph: route.serviceName }, "subgraph call failed");
      text = JSON.stringify({
        data: null,
        errors: [
          { message: INTERNAL_ERROR_MESSAGE, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, serviceName: route.serviceName, requestId } },
        ],
      });
    }
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", [REQUEST_ID_HEADER]: requestId });
    res.end(text);
    const code = text.includes('"errors"') ? (/"code":"([A-Z_]+)"/.exec(text)?.[1] ?? "ERROR") : "ok";
    options.metrics.record(route.operationName, code, Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };

  return { intercept, route: routeFor };
}
