/**
 * A subgraph's subscriptions over graphql-ws on its own port and path, the connection the router's subscription
 * executor holds to it; the operation's forwarded headers travel in the subscribe message's `extensions.headers`.
 */
import type http from "node:http";
import type { GraphQLFormattedError, GraphQLSchema } from "graphql";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import { formatError, logUnexpectedErrors } from "../errors.ts";
import { isRefusal, type OperationGuard } from "../operation-limits.ts";
import { requestIdOf } from "../forwarded-headers.ts";
import type { Logger } from "../logger.ts";
import type { BaseContext } from "../service.ts";

export interface SubgraphSubscriptionsOptions<TContext extends BaseContext> {
  httpServer: http.Server;
  schema: GraphQLSchema;
  logger: Logger;
  /** Builds the operation's context as for HTTP; `header` reads the forwarded headers of the subscribe message. */
  context: (base: BaseContext, header: (name: string) => string | undefined) => Promise<TContext>;
  /** Checks a subscribe message's operation (common/operation-limits.ts); absent: no limits. */
  guard?: OperationGuard;
  /** Largest WebSocket message in bytes, ws `maxPayload` (WS_MAX_MESSAGE_BYTES; default 65 536): a larger one closes the socket with 1009. */
  maxMessageBytes?: number;
}

/** Serves subscriptions on `/graphql` of `httpServer` until `close`. */
export function serveSubscriptions<TContext extends BaseContext>(options: SubgraphSubscriptionsOptions<TContext>) {
  const { logger } = options;
  const wss = new WebSocketServer({ server: options.httpServer, path: "/graphql", maxPayload: options.maxMessageBytes ?? 65_536 });
  const { guard } = options;
  const server = useServer(
    {
      schema: options.schema,
      context: async (_ctx, _id, payload) => {
        const headers = (payload.extensions?.headers ?? {}) as Record<string, string | undefined>;
        const requestId = requestIdOf(headers);
        return options.context({ requestId, logger: logger.child({ requestId }) }, (name) => headers[name.toLowerCase()]);
      },
      onSubscribe: guard
        ? (_ctx, _id, payload) => {
            try {
              guard({ query: payload.query, variables: payload.variables });
            } catch (error) {
              if (isRefusal(error)) return [error];
            }
          }
        : undefined,
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(withoutHttpStatus(e.toJSON()))),
      onNext: (_ctx, _id, _payload, args, result) => {
        if (!result.errors) return result;
        // Logged here, where the original is known, under the id the router forwarded; the router sees it masked.
        const { logger: log, requestId } = args.contextValue as BaseContext;
        logUnexpectedErrors(result.errors, log, args.operationName);
        return { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), requestId)) };
      },
    },
    wss,
  );
  return {
    close: async () => {
      await server.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** A refusal's HTTP status means nothing on a socket. */
function withoutHttpStatus(error: GraphQLFormattedError): GraphQLFormattedError {
  const { http: _status, ...extensions } = error.extensions ?? {};
  return { ...error, extensions };
}
