import { Histogram } from "prom-client";
import { parse } from "graphql";
import { ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { sandboxLandingPage } from "./landing-page.ts";
import { createClientTokenVerifier, signInternalIdentity, type ClientTokenOptions, type Identity } from "../../common/identity.ts";
import { CLIENT_IP_HEADER, requestIdOf } from "../../common/forwarded-headers.ts";
import { createMetrics } from "../../common/metrics.ts";
import type { Logger } from "../../common/logger.ts";
import type { ReadinessCheck } from "../../common/service.ts";
import { createHttpShell } from "../../common/http/shell.ts";
import { baseContextFor, headerOf, type RequestLike, type ResponseLike } from "../../common/http/graphql.ts";
import { createApolloHandler, startApollo } from "../../common/http/apollo.ts";
import { createGateway } from "./gateway.ts";
import { createGraphQLRoute } from "./graphql-route.ts";
import { createCors, createOriginPolicy } from "./cors.ts";
import { createRateLimit, type RateLimitOptions } from "./rate-limit.ts";
import { clientAddressOf, parseCidrList, type AddressList } from "../../common/client-address.ts";
import { createPassthrough } from "./passthrough.ts";
import { createExecutor } from "./executor/executor.ts";
import { createSubgraphSender } from "./subgraph-batch.ts";
import type { RouterContext } from "./context.ts";
import { createSubscriptionPlanner } from "./subscriptions/planner.ts";
import { createUpstreams } from "./subscriptions/upstream.ts";
import { createEventExecutor } from "./subscriptions/execute-event.ts";
import { createSubscriber } from "./subscriptions/subscribe.ts";
import { multipartSubscriptions } from "./subscriptions/multipart.ts";
import { attachWebSocket } from "./subscriptions/websocket.ts";
import { createSubscriptionGuard, type SubscriptionLimits } from "./subscriptions/subscription-guard.ts";
import { createOperationGuard, createRequestGuard, type OperationLimits } from "../../common/operation-limits.ts";
import { defaultOperationLimits } from "../../common/operation-limits-config.ts";
import { createPersistedDocuments } from "./persisted/documents.ts";
import { createPersistedRequests, type PersistedMode } from "./persisted/requests.ts";
import type { PersistedDocumentsManifest } from "../../schema/persisted-documents.ts";

export interface RouterOptions {
  supergraphSdl: string;
  subgraphUrls: Record<string, string>;
  jwtSecret: string;
  internalSecret: string;
  logger: Logger;
  /** Per subgraph call, in ms (default 10 000). */
  subgraphTimeoutMs?: number;
  /**
   * Development: Apollo Sandbox at `GET /graphql`, introspection on, local and Apollo Studio origins allowed
   * (cors.ts). Production: no landing page, introspection off unless `introspection`, only `allowedOrigins`
   * (default true).
   */
  development?: boolean;
  /** Answer `__schema` / `__type` from the API schema (INTROSPECTION; default: `development`). */
  introspection?: boolean;
  /** Browser origins allowed to call `/graphql` over HTTP (CORS) and WebSocket, besides development's (CORS_ORIGINS; default none). */
  allowedOrigins?: string[];
  /** Active subscriptions per WebSocket (default 100). */
  maxSubscriptionsPerSocket?: number;
  /** Multipart heartbeat interval in ms (default 5 000). */
  heartbeatMs?: number;
  /** Send operations one subgraph answers alone straight to it (default true; false: everything on the gateway). */
  passthrough?: boolean;
  /**
   * What runs the other queries and mutations (ROUTER_EXECUTOR): "executor" (default), the router's own
   * (executor/executor.ts), which leaves to the gateway what it does not run; "gateway", @apollo/gateway's executeQueryPlan.
   */
  executor?: "gateway" | "executor";
  /** Time a WebSocket client has to send `connection_init` (default 3 000 ms). */
  connectionInitWaitTimeoutMs?: number;
  /**
   * Subgraphs the pass-through sends batches to (subgraph-batch.ts): "all" (default), "none", or their names.
   * Every subgraph of this repository accepts batches; a subgraph served by another GraphQL server may not.
   */
  subgraphBatching?: "all" | "none" | string[];
  /** Peers whose `X-Forwarded-For` names the client (TRUSTED_PROXIES; default none: the socket's peer is the client). */
  trustedProxies?: AddressList;
  /** Per-IP and per-user request rates (rate-limit.ts); absent, nothing is limited (tests that do not test limits). */
  rateLimit?: RateLimitOptions;
  /** Issuer, audience and JWKS of client tokens (JWT_ISSUER, JWT_AUDIENCE, JWT_JWKS; default: HS256 with `jwtSecret` only). */
  clientTokens?: Omit<ClientTokenOptions, "secret">;
  /** Socket and stream caps and the slow-reader bound of subscriptions (WS_MAX_*; default DEFAULT_SUBSCRIPTION_LIMITS). */
  subscriptionLimits?: SubscriptionLimits;
  /** Largest WebSocket message in bytes (WS_MAX_MESSAGE_BYTES; default 65 536). */
  maxMessageBytes?: number;
  /** The clock WebSocket token expiry is measured on (default `Date.now`; tests move it). */
  now?: () => number;
  /** Operation limits of every path (OPERATION_MAX_*; default: common/config.ts's defaults); null turns them off. */
  operationLimits?: OperationLimits | null;
  /** Largest `/graphql` request body in bytes (OPERATION_MAX_BODY_BYTES; default 1 MiB). */
  maxBodyBytes?: number;
  /**
   * Persisted documents (persisted/): the trusted manifest (schema/persisted-documents.json) and whether other
   * documents run (PERSISTED_DOCUMENTS; default: `optional` with no manifest, so ids are APQ registrations only).
   */
  persistedDocuments?: { mode: PersistedMode; manifest?: PersistedDocumentsManifest };
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
  const metrics = createMetrics("router");
  const subscribe = createSubscriber({
    planner,
    upstreams,
    executeEvent: createEventExecutor(planner, services, options.logger),
    // Signed afresh, not from the 30 s cache: graphql-ws resends these headers on every reconnect of a
    // subscription that may live for hours, and the identity is valid for 60 s from signing.
    sign: (identity) => signInternalIdentity(identity, options.internalSecret),
    logger: options.logger,
    registry: metrics.registry,
  });
  const identityOf = createClientTokenVerifier({ secret: options.jwtSecret, ...options.clientTokens });
  // A request's token is verified once, however many steps ask (the rate limit, then its path).
  const identities = new WeakMap<RequestLike, Promise<Identity>>();
  const identityOfRequest = (req: RequestLike): Promise<Identity> => {
    let identity = identities.get(req);
    if (!identity) identities.set(req, (identity = identityOf(headerOf(req)("authorization"))));
    return identity;
  };
  const trustedProxies = options.trustedProxies ?? parseCidrList("");
  const subscriptionGuard = createSubscriptionGuard({
    ...options.subscriptionLimits,
    logger: options.logger,
    registry: metrics.registry,
    clientAddressOf: (req) => clientAddressOf(req, trustedProxies),
    isExempt: options.rateLimit ? (address) => options.rateLimit!.exempt.has(address) : undefined,
  });
  const batching = options.subgraphBatching ?? "all";
  // One sender for the pass-through and the plan executor: their operations of one turn share a batch.
  const send = createSubgraphSender({
    dispatcher: agent,
    timeoutMs: options.subgraphTimeoutMs ?? 10_000,
    batches: (name) => batching === "all" || (Array.isArray(batching) && batching.includes(name)),
    batchSize: new Histogram({
      name: "router_subgraph_batch_size",
      help: "Operations per request the pass-through and the plan executor sent, by subgraph (1: sent alone).",
      labelNames: ["subgraph"],
      buckets: [1, 2, 4, 8, 16, 32],
      registers: [metrics.registry],
    }),
  });
  const passthrough =
    options.passthrough === false
      ? null
      : createPassthrough({
          planner,
          subgraphUrls: options.subgraphUrls,
          identityOf: identityOfRequest,
          sign,
          send,
          metrics,
          logger: options.logger,
        });
  const executor =
    (options.executor ?? "executor") === "executor"
      ? createExecutor({ planner, subgraphUrls: options.subgraphUrls, identityOf: identityOfRequest, sign, send, metrics, logger: options.logger })
      : null;
  const multipart = multipartSubscriptions({
    subscribe,
    heartbeatMs: options.heartbeatMs,
    logger: options.logger,
    guard: subscriptionGuard,
    context: async (req) => {
      const requestId = requestIdOf(req.headers);
      return { requestId, logger: options.logger.child({ requestId }), identity: await identityOfRequest(req) };
    },
  });

  const shell = createHttpShell({ name: "router", metrics, readiness: subgraphsReady(options.subgraphUrls) });
  const allowsOrigin = createOriginPolicy({ origins: options.allowedOrigins ?? [], development: options.development ?? true });
  const apollo = await startApollo<RouterContext>({
    source: { gateway },
    httpServer: shell.httpServer,
    metrics,
    plugins: [(options.development ?? true) ? sandboxLandingPage() : ApolloServerPluginLandingPageDisabled()],
    introspection: options.introspection ?? options.development ?? true,
  });
  const contextFor = async (req: RequestLike, res: ResponseLike): Promise<RouterContext> => {
    const header = headerOf(req);
    return { ...baseContextFor(req, res, options.logger), identity: await identityOfRequest(req), clientIp: header(CLIENT_IP_HEADER) };
  };
  const limits = options.operationLimits === undefined ? defaultOperationLimits() : options.operationLimits;
  // One guard for every path, so a document checked once (a persisted one at startup) is a cache hit on each.
  const operationGuard = limits ? createOperationGuard(limits) : undefined;
  const documents = createPersistedDocuments({ manifest: options.persistedDocuments?.manifest, schema: planner.schema, guard: operationGuard });
  const persisted = createPersistedRequests({ mode: options.persistedDocuments?.mode ?? "optional", documents });
  // Each trusted document's path is decided now, so its first request runs as the next ones do, with no parse or
  // validation: the pass-through's route, or else the plan executor's compiled program (subscriptions are neither's).
  for (const document of documents.trusted()) {
    const routed = passthrough?.route({ query: document.query, operationName: document.name });
    if (!routed && document.type !== "subscription") executor?.prepare(document.query, document.name ?? undefined);
  }
  const route = createGraphQLRoute({
    multipart,
    passthrough: passthrough?.intercept ?? null,
    executor: executor?.intercept ?? null,
    gateway: createApolloHandler(apollo, contextFor),
    logger: options.logger,
    checkLimits: operationGuard ? createRequestGuard(operationGuard) : undefined,
    maxBodyBytes: options.maxBodyBytes,
    persisted: persisted.resolveRequest,
    cors: createCors(allowsOrigin),
    trustedProxies: options.trustedProxies ?? parseCidrList(""),
    admit: options.rateLimit
      ? createRateLimit(options.rateLimit, { identityOf: identityOfRequest, metrics, logger: options.logger }).admit
      : undefined,
  });
  shell.serveGraphQL(route.serve, route.landingPage);
  const websocket = attachWebSocket({
    httpServer: shell.httpServer,
    subscribe,
    schema: planner.schema,
    identityOf,
    guard: subscriptionGuard,
    maxMessageBytes: options.maxMessageBytes,
    operationGuard: persisted.guardSocket(operationGuard ?? ((request) => parse(request.query))),
    now: options.now,
    logger: options.logger,
    allowsOrigin,
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
