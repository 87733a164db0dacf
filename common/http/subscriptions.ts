/**
 * A subgraph's subscriptions over graphql-ws on its own port and path, the connection the router's subscription
 * executor holds to it; the operation's forwarded headers travel in the subscribe message's `extensions.headers`.
 */
import type http from "node:http";
import type { GraphQLSchema } from "graphql";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import { formatError } from "../errors.ts";
import { requestIdOf } from "../forwarded-headers.ts";
import type { Logger } from "../logger.ts";
import type { BaseContext } from "../service.ts";

export interface SubgraphSubscriptionsOptions<TContext extends BaseContext> {
  httpServer: http.Server;
  schema: GraphQLSchema;
  logger: Logger;
  /** Builds the operation's context as for HTTP; `header` reads the forwarded headers of the subscribe message. */
  context: (base: BaseContext, header: (name: string) => string | undefined) => Promise<TContext>;
}

/** Serves subscriptions on `/graphql` of `httpServer` until `close`. */
export function serveSubscriptions<TContext extends BaseContext>(options: SubgraphSubscriptionsOptions<TContext>) {
  const { logger } = options;
  const wss = new WebSocketServer({ server: options.httpServer, path: "/graphql" });
  const server = useServer(
    {
      schema: options.schema,
      context: async (_ctx, _id, payload) => {
        const headers = (payload.extensions?.headers ?? {}) as Record<string, string | undefined>;
        const requestId = requestIdOf(headers);
        return options.context({ requestId, logger: logger.child({ requestId }) }, (name) => headers[name.toLowerCase()]);
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(e.toJSON())),
      onNext: (_ctx, _id, _payload, _args, result) => ({
        ...result,
        errors: result.errors?.map((e) => formatError(e.toJSON())),
      }),
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
