/**
 * The router's own query-plan executor (ROUTER_EXECUTOR=executor): queries and mutations that need more than
 * one subgraph run here on a program compiled once per (document, operation name) (program.ts) instead of on
 * @apollo/gateway's `executeQueryPlan`, and the answer is the gateway's, byte for byte: same status, same body
 * (test/executor-equivalence.e2e.test.ts holds it to that). Whatever it does not run — invalid documents,
 * variables that do not coerce, introspection, subscriptions, `@defer`, GET, persisted queries, `Accept`
 * headers it does not read the same way — is left to the gateway and counted by reason
 * (`router_executor_fallbacks_total`).
 */
import type http from "node:http";
import { getVariableValues, type GraphQLSchema } from "graphql";
import type { Schema } from "@apollo/federation-internals";
import type { QueryPlanner } from "@apollo/query-planner";
import { Counter } from "prom-client";
import { LRUCache } from "lru-cache";
import { logUnexpectedErrors } from "../../../common/errors.ts";
import { IDENTITY_HEADER, type Identity } from "../../../common/identity.ts";
import type { Logger } from "../../../common/logger.ts";
import type { Metrics } from "../../../common/metrics.ts";
import { CLIENT_IP_HEADER, requestIdOf } from "../../../common/forwarded-headers.ts";
import { forwardedHeaders, type IdentitySigner } from "../forwarding.ts";
import { negotiateContentType } from "./accept.ts";
import { dedupeQueries, type Send } from "./dedupe.ts";
import type { FetchRoute, PlanRun } from "./fetch.ts";
import { createProgramCompiler, Fallback, type FallbackReason, type Program } from "./program.ts";
import { execute, serialise } from "./respond.ts";

export interface ExecutorOptions {
  /** The router's supergraph and query planner (subscriptions/planner.ts). */
  planner: { apiSchema: Schema; schema: GraphQLSchema; supergraphSchema: GraphQLSchema; queryPlanner: QueryPlanner };
  subgraphUrls: Record<string, string>;
  /** The caller's verified identity, once per request (server.ts). */
  identityOf: (req: http.IncomingMessage) => Promise<Identity>;
  sign: IdentitySigner;
  /** Sends an operation to its subgraph, batched with others of the same turn (subgraph-batch.ts). */
  send: Send;
  metrics: Metrics;
  logger: Logger;
}

interface GraphQLBody {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  extensions?: Record<string, unknown>;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** A body Apollo Server would take as one operation with nothing request-level to report about it. */
const isPlainOperation = (body: unknown): body is GraphQLBody =>
  isRecord(body) &&
  typeof body.query === "string" &&
  (body.operationName === undefined || body.operationName === null || typeof body.operationName === "string") &&
  (body.variables === undefined || body.variables === null || isRecord(body.variables)) &&
  (body.extensions === undefined || (isRecord(body.extensions) && body.extensions.persistedQuery === undefined));

export function createExecutor(options: ExecutorOptions) {
  const routes: Record<string, FetchRoute> = {};
  for (const [serviceName, url] of Object.entries(options.subgraphUrls)) {
    const { origin, pathname, search } = new URL(url);
    routes[serviceName] = { serviceName, origin, path: pathname + search, url };
  }
  const compile = createProgramCompiler({ ...options.planner, routes });
  const programs = new LRUCache<string, Program | Fallback>({ max: 2_000 });
  const shared = new Counter({
    name: "router_executor_shared_fetches_total",
    help: "Subgraph queries the plan executor did not send because an identical one for the same identity was in flight.",
    registers: [options.metrics.registry],
  });
  const send = dedupeQueries(options.send, IDENTITY_HEADER, () => shared.inc());
  const fallbacks = new Counter({
    name: "router_executor_fallbacks_total",
    help: "Requests the plan executor left to @apollo/gateway, by reason.",
    labelNames: ["reason"],
    registers: [options.metrics.registry],
  });
  const runs = new Counter({
    name: "router_executor_operations_total",
    help: "Operations the plan executor answered itself.",
    registers: [options.metrics.registry],
  });
  const fallBack = (reason: FallbackReason | "request" | "accept" | "variables") => {
    fallbacks.inc({ reason });
    return false;
  };

  function programFor(body: GraphQLBody): Program | Fallback {
    const operationName = typeof body.operationName === "string" ? body.operationName : undefined;
    const key = `${operationName ?? ""}\u0000${body.query}`;
    let program = programs.get(key);
    if (program === undefined) programs.set(key, (program = compile(body.query, operationName)));
    return program;
  }

  /** An intercept for `POST /graphql`: answers the request itself (true) or leaves it to the gateway (false). */
  const intercept = async (req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<boolean> => {
    if (req.method !== "POST" || !isPlainOperation(body)) return fallBack("request");
    const contentType = negotiateContentType(req.headers.accept);
    if (!contentType) return fallBack("accept");
    const program = programFor(body);
    if (program instanceof Fallback) return fallBack(program.reason);
    const variables = body.variables ?? undefined;
    const definitions = program.operation.variableDefinitions;
    if (definitions?.length && getVariableValues(options.planner.schema, definitions, variables ?? {}).errors) return fallBack("variables");

    const started = process.hrtime.bigint();
    const requestId = requestIdOf(req.headers);
    const clientIp = req.headers[CLIENT_IP_HEADER];
    const caller = { identity: await options.identityOf(req), requestId, clientIp: typeof clientIp === "string" ? clientIp : undefined };
    const headers = { "content-type": "application/json", ...forwardedHeaders(options.sign, caller) };
    const run: PlanRun = { variables, errors: [], call: (to, text, isQuery) => send(to, headers, text, isQuery) };
    const outcome = await execute(program, run);
    runs.inc();

    const { body: text, errors, code } = serialise(outcome, requestId);
    if (errors.length) logUnexpectedErrors(errors, options.logger.child({ requestId }), program.name);
    // As Apollo Server's handler writes it (http/apollo.ts): headers set, then one `end` (so a content-length).
    res.statusCode = outcome.status;
    res.setHeader("content-type", contentType);
    res.setHeader("cache-control", "no-store");
    res.end(text);
    options.metrics.record(program.name, code, Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };

  /** Compiles a document ahead of its first request (a trusted persisted document, at startup). */
  const prepare = (query: string, operationName?: string) => void programFor({ query, operationName });

  return { intercept, prepare };
}
