/**
 * The router's own query-plan executor (ROUTER_EXECUTOR=executor): queries and mutations that need more than
 * one subgraph run here on a program compiled once per (document, operation name) (program.ts) instead of on
 * @apollo/gateway's `executeQueryPlan`, and the answer is the gateway's, byte for byte: same status, same body
 * (test/executor-equivalence.e2e.test.ts holds it to that). An operation with `@defer`, which the gateway does
 * not serve, is answered as Apollo Router answers it: streamed over `multipart/mixed;deferSpec=20220824`
 * (incremental.ts, multipart.ts) to a client that accepts it, refused with 406 DEFER_BAD_HEADER otherwise.
 * Whatever it does not run — invalid documents, variables that do not coerce, introspection, subscriptions,
 * GET, persisted queries, `Accept` headers it does not read the same way — is left to the gateway and counted
 * by reason (`router_executor_fallbacks_total`).
 */
import type http from "node:http";
import { getVariableValues, type GraphQLSchema } from "graphql";
import type { Schema, Supergraph } from "@apollo/federation-internals";
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
import type { CompiledDefer } from "./defer-plan.ts";
import type { FetchRoute, PlanRun } from "./fetch.ts";
import { executeIncrementally, serialiseInitial, serialiseSubsequent } from "./incremental.ts";
import { acceptsMultipartDefer, startMultipart, type MultipartWriter } from "./multipart.ts";
import { createProgramCompiler, Fallback, type FallbackReason, type Program } from "./program.ts";
import { asGraphQLError } from "./errors.ts";
import { execute, serialise, type Outcome } from "./respond.ts";

export interface ExecutorOptions {
  /** The router's supergraph and query planner (subscriptions/planner.ts). */
  planner: { apiSchema: Schema; schema: GraphQLSchema; supergraphSchema: GraphQLSchema; queryPlanner: QueryPlanner; supergraph: Supergraph };
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

const JSON_CONTENT_TYPE = "application/json; charset=utf-8";

/** Apollo Router's answer to a deferred operation from a client that does not accept the multipart response (406). */
const DEFER_BAD_HEADER = JSON.stringify({
  errors: [
    {
      message:
        "the router received a query with the @defer directive but the client does not accept multipart/mixed HTTP responses. To enable @defer support, add the HTTP header 'Accept: multipart/mixed;deferSpec=20220824'",
      extensions: { code: "DEFER_BAD_HEADER" },
    },
  ],
});

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
  const compilations = new Counter({
    name: "router_executor_compilations_total",
    help: "Documents the plan executor parsed, validated, planned and compiled (once per document and operation name while cached).",
    registers: [options.metrics.registry],
  });
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
    if (program === undefined) {
      compilations.inc();
      programs.set(key, (program = compile(body.query, operationName)));
    }
    return program;
  }

  /** Writes a whole (not streamed) answer as Apollo Server's handler writes it: headers, then one `end`. */
  function answer(res: http.ServerResponse, outcome: Outcome, contentType: string, requestId: string, name: string): string {
    const { body: text, errors, code } = serialise(outcome, requestId);
    if (errors.length) logUnexpectedErrors(errors, options.logger.child({ requestId }), name);
    res.statusCode = outcome.status;
    res.setHeader("content-type", contentType);
    res.setHeader("cache-control", "no-store");
    res.end(text);
    return code;
  }

  /**
   * Streams a deferred operation's payloads, the multipart response opened by `open` once the first part is
   * ready (a primary part that throws is answered whole, as any other); returns the metrics outcome of that part.
   */
  async function stream(defer: CompiledDefer, run: PlanRun, res: http.ServerResponse, open: () => MultipartWriter, requestId: string, name: string) {
    let code = "ok";
    let writer: MultipartWriter | undefined;
    const log = (errors: unknown[] | undefined) => {
      const unexpected = (errors ?? []).map(asGraphQLError);
      if (unexpected.length) logUnexpectedErrors(unexpected, options.logger.child({ requestId }), name);
    };
    await executeIncrementally(defer, run, {
      initial(outcome, hasNext) {
        if (outcome.status !== 200) {
          code = answer(res, outcome, JSON_CONTENT_TYPE, requestId, name);
          return;
        }
        log(outcome.errors);
        const first = outcome.errors?.[0];
        if (first) code = String(asGraphQLError(first).extensions.code ?? "INTERNAL_SERVER_ERROR");
        writer = open();
        writer.write(serialiseInitial(outcome, hasNext, requestId), hasNext);
      },
      subsequent(items, hasNext) {
        for (const item of items) log(item.errors);
        writer?.write(serialiseSubsequent(items, hasNext, requestId), hasNext);
      },
      get closed() {
        return res.writableEnded || (writer?.closed ?? false);
      },
    });
    return code;
  }

  /** An intercept for `POST /graphql`: answers the request itself (true) or leaves it to the gateway (false). */
  const intercept = async (req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<boolean> => {
    if (req.method !== "POST" || !isPlainOperation(body)) return fallBack("request");
    const contentType = negotiateContentType(req.headers.accept);
    const multipart = acceptsMultipartDefer(req.headers.accept);
    if (!contentType && !multipart) return fallBack("accept");
    const program = programFor(body);
    if (program instanceof Fallback) return fallBack(program.reason);
    const variables = body.variables ?? undefined;
    const definitions = program.operation.variableDefinitions;
    if (definitions?.length && getVariableValues(options.planner.schema, definitions, variables ?? {}).errors) return fallBack("variables");
    const resolved = program.deferred ? program.deferred(variables) : { plan: program.plan };
    // An operation with @defer is never the gateway's (it does not serve it): without a content type it can
    // read as JSON, a client that accepts the multipart one gets JSON when nothing is deferred, as from Apollo Router.
    if (!contentType && !program.deferred) return fallBack("accept");

    const started = process.hrtime.bigint();
    const requestId = requestIdOf(req.headers);
    runs.inc();
    if ("defer" in resolved && !multipart) {
      res.statusCode = 406;
      res.setHeader("content-type", JSON_CONTENT_TYPE);
      res.end(DEFER_BAD_HEADER);
      options.metrics.record(program.name, "DEFER_BAD_HEADER", Number(process.hrtime.bigint() - started) / 1e9);
      return true;
    }
    const clientIp = req.headers[CLIENT_IP_HEADER];
    const caller = { identity: await options.identityOf(req), requestId, clientIp: typeof clientIp === "string" ? clientIp : undefined };
    const headers = { "content-type": "application/json", ...forwardedHeaders(options.sign, caller) };
    let writer: MultipartWriter | undefined;
    const run: PlanRun = {
      variables,
      errors: [],
      // A client that went away mid-stream: the fetches still to go are not sent.
      call: (to, text, isQuery) => (writer?.closed ? Promise.reject(new Error("the client went away")) : send(to, headers, text, isQuery)),
    };
    let code: string;
    if ("defer" in resolved) {
      // The response's headers (x-request-id, CORS) were set on `res` by the route already.
      code = await stream(resolved.defer, run, res, () => (writer = startMultipart(res)), requestId, program.name);
    } else {
      code = answer(
        res,
        await execute({ plan: resolved.plan, shape: program.shape }, run),
        contentType ?? JSON_CONTENT_TYPE,
        requestId,
        program.name,
      );
    }
    options.metrics.record(program.name, code, Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };

  /**
   * Compiles a document of one operation ahead of its first request (a trusted persisted document, at
   * startup), cached both under the operation's name and without one, since a request by id may name it or not.
   */
  const prepare = (query: string, operationName?: string) => {
    const program = programFor({ query, operationName });
    if (operationName !== undefined) programs.set(`\u0000${query}`, program);
  };

  return { intercept, prepare };
}
