import { Histogram } from "prom-client";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { sandboxLandingPage } from "./landing-page.ts";
import { createClientTokenVerifier, signInternalIdentity } from "../../common/identity.ts";
import { CLIENT_IP_HEADER, requestIdOf } from "../../common/forwarded-headers.ts";
import { createMetrics } from "../../common/metrics.ts";
import type { Logger } from "../../common/logger.ts";
import type { ReadinessCheck } from "../../common/service.ts";
import { createHttpShell } from "../../common/http/shell.ts";
import { baseContextFor, headerOf, type RequestLike, type ResponseLike } from "../../common/http/graphql.ts";
import { createApolloHandler, startApollo } from "../../common/http/apollo.ts";
import { createGateway } from "./gateway.ts";
import { createGraphQLRoute } from "./graphql-route.ts";
import { createPassthrough } from "./passthrough.ts";
import { createSubgraphSender } from "./subgraph-batch.ts";
import type { RouterContext } from "./context.ts";
import { createSubscriptionPlanner } from "./subscriptions/planner.ts";
import { createUpstreams } from "./subscriptions/upstream.ts";
import { createEventExecutor } from "./subscriptions/execute-event.ts";
import { createSubscriber } from "./subscriptions/subscribe.ts";
import { multipartSubscriptions } from "./subscriptions/multipart.ts";
import { attachWebSocket } from "./subscriptions/websocket.ts";

export interface RouterOptions {
  supergraphSdl: string;
  subgraphUrls: Record<string, string>;
  jwtSecret: string;
  internalSecret: string;
  logger: Logger;
  /** Per subgraph call, in ms (default 10 000). */
  subgraphTimeoutMs?: number;
  /** Apollo Sandbox at `GET /graphql` in development; no landing page in production (default true). */
  development?: boolean;
  /** Browser origins allowed to open subscription sockets (default: any). */
  allowedOrigins?: string[];
  /** Active subscriptions per WebSocket (default 100). */
  maxSubscriptionsPerSocket?: number;
  /** Multipart heartbeat interval in ms (default 5 000). */
  heartbeatMs?: number;
  /** Send operations one subgraph answers alone straight to it (default true; false: everything on the gateway). */
  passthrough?: boolean;
  /** Time a WebSocket client has to send `connection_init` (default 3 000 ms). */
  connectionInitWaitTimeoutMs?: number;
  /**
   * Subgraphs the pass-through sends batches to (subgraph-batch.ts): "all" (default), "none", or their names.
   * Every subgraph of this repository accepts batches; a subgraph served by another GraphQL server may not.
   */
  subgraphBatching?: "all" | "none" | string[];
}

/** `/ready` of the router: every subgraph's own `/ready`. */
const subgraphsReady = (subgraphUrls: Record<string, string>): ReadinessCheck[] =>
  Object.entries(subgraphUrls).map(([name, url]) => ({
    name,
    check: async () => {
      const response = await fetch(new URL("/ready", url), { signal: AbortSignal.timeout(1_000) });
      if (!response.ok) throw new Error(`${name} answered ${response.status}`);
    },
  }));

/**
 * The federation router: verifies the caller's JWT, plans over the supergraph and calls the subgraphs.
 * Queries and mutations one subgraph answers alone are passed straight to it (passthrough.ts); the others
 * run on @apollo/gateway; subscriptions (graphql-ws and multipart HTTP) are planned by the same query
 * planner and executed here (see subscriptions/).
 */
export async function createRouter(options: RouterOptions) {
  const {
    gateway,
    services,
    sign,
    agent,
    close: closeGateway,
  } = createGateway({
    supergraphSdl: options.supergraphSdl,
    subgraphUrls: options.subgraphUrls,
    internalSecret: options.internalSecret,
    timeoutMs: options.subgraphTimeoutMs ?? 10_000,
  });
  const planner = createSubscriptionPlanner(options.supergraphSdl);
  const upstreams = createUpstreams(options.subgraphUrls, options.logger);
  const subscribe = createSubscriber({
    planner,
    upstreams,
    executeEvent: createEventExecutor(planner, services, options.logger),
    // Signed afresh, not from the 30 s cache: graphql-ws resends these headers on every reconnect of a
    // subscription that may live for hours, and the identity is valid for 60 s from signing.
    sign: (identity) => signInternalIdentity(identity, options.internalSecret),
    logger: options.logger,
  });
  const identityOf = createClientTokenVerifier(options.jwtSecret);
  const metrics = createMetrics("router");
  const batching = options.subgraphBatching ?? "all";
  const passthrough =
    options.passthrough === false
      ? null
      : createPassthrough({
          planner,
          subgraphUrls: options.subgraphUrls,
          identityOf,
          sign,
          send: createSubgraphSender({
            dispatcher: agent,
            timeoutMs: options.subgraphTimeoutMs ?? 10_000,
            batches: (name) => batching === "all" || (Array.isArray(batching) && batching.includes(name)),
            batchSize: new Histogram({
              name: "router_subgraph_batch_size",
              help: "Operations per request the pass-through sent, by subgraph (1: sent alone).",
              labelNames: ["subgraph"],
              buckets: [1, 2, 4, 8, 16, 32],
              registers: [metrics.registry],
            }),
          }),
          metrics,
          logger: options.logger,
        });
  const multipart = multipartSubscriptions({
    subscribe,
    heartbeatMs: options.heartbeatMs,
    context: async (req) => {
      const requestId = requestIdOf(req.headers);
      return { requestId, logger: options.logger.child({ requestId }), identity: await identityOf(req.headers.authorization) };
    },
  });

  const shell = createHttpShell({ name: "router", metrics, readiness: subgraphsReady(options.subgraphUrls) });
  const apollo = await startApollo<RouterContext>({
    source: { gateway },
    httpServer: shell.httpServer,
    metrics,
    plugins: [(options.development ?? true) ? sandboxLandingPage() : ApolloServerPluginLandingPageDisabled()],
  });
  const contextFor = async (req: RequestLike, res: ResponseLike): Promise<RouterContext> => {
    const header = headerOf(req);
    return { ...baseContextFor(req, res, options.logger), identity: await identityOf(header("authorization")), clientIp: header(CLIENT_IP_HEADER) };
  };
  const route = createGraphQLRoute({
    multipart,
    passthrough: passthrough?.intercept ?? null,
    gateway: createApolloHandler(apollo, contextFor),
    logger: options.logger,
  });
  shell.serveGraphQL(route.serve, route.landingPage);
  const websocket = attachWebSocket({
    httpServer: shell.httpServer,
    subscribe,
    schema: planner.schema,
    jwtSecret: options.jwtSecret,
    logger: options.logger,
    allowedOrigins: options.allowedOrigins,
    maxSubscriptionsPerSocket: options.maxSubscriptionsPerSocket,
    connectionInitWaitTimeoutMs: options.connectionInitWaitTimeoutMs,
  });

  return {
    app: shell.app,
    httpServer: shell.httpServer,
    metrics,
    listen: shell.listen,
    websocket,
    /** Closes sockets and upstreams, lets in-flight requests finish (Apollo's drain), then the subgraph pool. */
    close: async () => {
      await websocket.close();
      await upstreams.close();
      await apollo.stop();
      await closeGateway();
    },
  };
}
