/**
 * Apollo Server as every service here runs it, router and subgraphs alike, so both mask, log, count and stop
 * the same way; and its handler on a plain Node request (what the express integration does, without the
 * router and body-parser layers that were a quarter of the router's CPU on the hot path).
 */
import type http from "node:http";
import { ApolloServer, HeaderMap, type ApolloServerPlugin } from "@apollo/server";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import type { GatewayInterface } from "@apollo/server-gateway-interface";
import type { GraphQLFormattedError, GraphQLSchema } from "graphql";
import { formatError, logUnexpectedErrors, withRequestId } from "../errors.ts";
import type { Metrics } from "../metrics.ts";
import type { BaseContext } from "../service.ts";
import type { RequestLike, ResponseLike } from "./graphql.ts";

/** Logs every error a client would see masked, with the request id, before `formatError` hides it. */
function errorLoggingPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, contextValue, operationName }) {
          logUnexpectedErrors(errors, contextValue.logger, operationName);
        },
      };
    },
  };
}

/**
 * Gives every masked error of a response its request id (`extensions.requestId`, as the `x-request-id` header):
 * Apollo's `formatError` has no context, so the id is added once the errors are formatted.
 */
function requestIdPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  const stamp = <T extends { errors?: readonly GraphQLFormattedError[] }>(result: T, requestId: string): T =>
    result.errors ? { ...result, errors: result.errors.map((error) => withRequestId(error, requestId)) } : result;
  return {
    async requestDidStart({ contextValue: { requestId } }) {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind === "single") response.body.singleResult = stamp(response.body.singleResult, requestId);
          else response.body.initialResult = stamp(response.body.initialResult, requestId);
        },
        async willSendSubsequentPayload(_context, payload) {
          // @defer: each deferred part is formatted as it is sent; the payload object is the one written.
          for (const part of [...(payload.incremental ?? []), ...("completed" in payload ? (payload.completed ?? []) : [])])
            Object.assign(part, stamp(part, requestId));
        },
      };
    },
  };
}

export interface ApolloOptions<TContext extends BaseContext> {
  /** A subgraph's schema, or (for the router) a gateway that plans over the supergraph. */
  source: { schema: GraphQLSchema } | { gateway: GatewayInterface };
  /** The shell's server, drained when Apollo stops. */
  httpServer: http.Server;
  /** Counts every operation Apollo answers (`graphql_operations_total`, `graphql_operation_duration_seconds`). */
  metrics: Metrics;
  /** The service's own plugins, after the shared ones. */
  plugins: ApolloServerPlugin<TContext>[];
  /** Answer `__schema` / `__type` (default true; the router passes INTROSPECTION, see docs/edge-protection.md). */
  introspection?: boolean;
}

/**
 * Starts Apollo Server with errors masked (`formatError`, no stack traces, the request id added), unexpected
 * ones logged, every operation counted, and `stop()` draining the HTTP server.
 */
export async function startApollo<TContext extends BaseContext>(options: ApolloOptions<TContext>): Promise<ApolloServer<TContext>> {
  const apollo = new ApolloServer<TContext>({
    ...options.source,
    // Not `formatError` itself: Apollo passes the original error as a second argument, formatError's request id.
    formatError: (formatted) => formatError(formatted),
    includeStacktraceInErrorResponses: false,
    // The lifecycle in main.ts handles SIGTERM: it drains this server, then closes Kafka, Redis and
    // PostgreSQL in reverse start order. Apollo's own handler would stop only the server, then exit.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer: options.httpServer }),
      errorLoggingPlugin<TContext>(),
      requestIdPlugin<TContext>(),
      options.metrics.plugin,
      ...options.plugins,
    ],
    introspection: options.introspection ?? true,
  });
  await apollo.start();
  return apollo;
}

/** Serves Apollo Server on a plain Node request, or on one operation of a router batch. */
export function createApolloHandler<TContext extends BaseContext>(
  apollo: ApolloServer<TContext>,
  context: (req: RequestLike, res: ResponseLike) => Promise<TContext>,
) {
  return async (req: RequestLike, res: ResponseLike, body: unknown) => {
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    const queryStart = req.url?.indexOf("?") ?? -1;
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method?.toUpperCase() ?? "GET", headers, search: queryStart >= 0 ? req.url!.slice(queryStart) : "", body },
      context: () => context(req, res),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === "complete") {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };
}
