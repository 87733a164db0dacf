/**
 * A federation subgraph's service, assembled from the HTTP pieces in common/http/: the shell, Apollo Server, the
 * fast path in front of it, the router's batches and graphql-ws subscriptions, with every operation's context
 * carrying the identity the router forwarded.
 */
import type { Express } from "express";
import type { ApolloServerPlugin } from "@apollo/server";
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { parse, type GraphQLSchema } from "graphql";
import { buildSubgraph } from "./schema.ts";
import { requestIdOf } from "./forwarded-headers.ts";
import { createInternalIdentityReader, IDENTITY_HEADER, type Identity } from "./identity.ts";
import type { Logger } from "./logger.ts";
import { createMetrics } from "./metrics.ts";
import type { BaseContext, ReadinessCheck } from "./service.ts";
import { createHttpShell } from "./http/shell.ts";
import { answerFailure, baseContextFor, headerOf, readBody, type RequestLike, type ResponseLike } from "./http/graphql.ts";
import { createApolloHandler, startApollo } from "./http/apollo.ts";
import { createFastPath } from "./http/fast-path.ts";
import { createBatchReceiver, isBatchRequest } from "./http/batch-receiver.ts";
import { serveSubscriptions } from "./http/subscriptions.ts";
import { createOperationGuard, createRequestGuard, type OperationLimits } from "./operation-limits.ts";
import { defaultOperationLimits, subgraphLimitsFrom } from "./operation-limits-config.ts";

export interface SchemaServiceOptions<TContext extends BaseContext> {
  name: string;
  schema: GraphQLSchema;
  logger: Logger;
  /**
   * Builds the per-operation context; `base` carries the request id and a child logger, `header` reads
   * a request header (over WebSocket: from the subscribe message's `extensions.headers`, set by the router).
   */
  context: (base: BaseContext, header: (name: string) => string | undefined) => Promise<TContext>;
  /** Also serve subscriptions over graphql-ws on `/graphql` (the router's upstream connection). */
  subscriptions?: boolean;
  /** Dependencies `/ready` checks, each bounded by `readyTimeoutMs`. */
  readiness: ReadinessCheck[];
  /** Per-check timeout of `/ready` in ms (default 1 000). */
  readyTimeoutMs?: number;
  /** Adds routes (webhooks, ...); `/graphql` itself is served before express sees the request. */
  routes?: (app: Express) => void;
  plugins?: ApolloServerPlugin<TContext>[];
  /**
   * Run known-valid JSON `POST`s on graphql-js directly (http/fast-path.ts; default true). Off when `plugins`
   * are given, since the fast path does not run Apollo plugins.
   */
  fastPath?: boolean;
  /**
   * Operation limits of every request, batch entry and subscription (default: `subgraphLimitsFrom` the
   * defaults of common/config.ts, so everything the router plans passes); null turns them off.
   */
  limits?: OperationLimits | null;
  /** Largest `/graphql` request body in bytes, a router batch included (OPERATION_MAX_BODY_BYTES; default 1 MiB). */
  maxBodyBytes?: number;
  /** Largest WebSocket message in bytes (WS_MAX_MESSAGE_BYTES; default 65 536). */
  maxMessageBytes?: number;
}

/** A service around one subgraph schema: `POST|GET /graphql` (also the router's batches), `/health`, `/ready`, `/metrics`. */
export async function createSchemaService<TContext extends BaseContext>(options: SchemaServiceOptions<TContext>) {
  const { name, schema, logger } = options;
  const shell = createHttpShell({
    name,
    metrics: createMetrics(name),
    readiness: options.readiness,
    readyTimeoutMs: options.readyTimeoutMs,
    routes: options.routes,
  });
  const apollo = await startApollo<TContext>({
    source: { schema },
    httpServer: shell.httpServer,
    metrics: shell.metrics,
    // Subgraphs set no cache hints; the default cache-control plugin would still wrap every field resolver.
    plugins: [ApolloServerPluginInlineTraceDisabled(), ApolloServerPluginCacheControlDisabled(), ...(options.plugins ?? [])],
  });
  const limits = options.limits === undefined ? subgraphLimitsFrom(defaultOperationLimits()) : options.limits;
  const guard = limits ? createOperationGuard(limits) : undefined;
  const checkLimits = guard ? createRequestGuard(guard) : undefined;
  const contextFor = (req: RequestLike, res: ResponseLike) => options.context(baseContextFor(req, res, logger), headerOf(req));
  const viaApollo = createApolloHandler(apollo, contextFor);
  const fast =
    !options.plugins?.length && options.fastPath !== false
      ? createFastPath({
          schema,
          context: contextFor,
          record: shell.metrics.record,
          parse: guard && ((query) => guard.documentOf(query) ?? parse(query)),
        })
      : null;
  /**
   * One operation, as a request alone or one entry of a batch: refused over the operation limits, else the fast
   * path when it can, Apollo Server otherwise.
   */
  const run = async (req: RequestLike, res: ResponseLike, body: unknown) => {
    checkLimits?.(req, body);
    if (!(fast && (await fast(req, res, body)))) await viaApollo(req, res, body);
  };
  const fail = (res: ResponseLike, error: unknown, req: RequestLike) => answerFailure(res, error, logger, requestIdOf(req.headers));
  const receiveBatch = createBatchReceiver({ run, fail });
  shell.serveGraphQL(
    async (req, res) => {
      try {
        const body = await readBody(req, options.maxBodyBytes);
        await (isBatchRequest(req) ? receiveBatch(req, res, body) : run(req, res, body));
      } catch (error) {
        fail(res, error, req);
      }
    },
    (req, res) => void viaApollo(req, res, undefined),
  );
  const subscriptions = options.subscriptions
    ? serveSubscriptions({ httpServer: shell.httpServer, schema, logger, context: options.context, guard, maxMessageBytes: options.maxMessageBytes })
    : null;

  return {
    app: shell.app,
    httpServer: shell.httpServer,
    metrics: shell.metrics,
    listen: shell.listen,
    /** Stops accepting requests, lets in-flight ones finish, then closes the server. */
    close: async () => {
      await subscriptions?.close();
      await apollo.stop();
    },
  };
}

export interface SubgraphServiceOptions<TContext extends BaseContext> extends Omit<SchemaServiceOptions<TContext>, "schema" | "context"> {
  /** The subgraph's `schema.graphql` (also the input of `npm run compose`). */
  schemaFile: URL;
  resolvers: unknown;
  /** Verifies the identity the router forwards (`x-flashgraph-identity`). */
  internalSecret: string;
  /** The subgraph's own context, given the base context with the caller's verified identity. */
  context: (base: BaseContext & { identity: Identity }, header: (name: string) => string | undefined) => Promise<TContext> | TContext;
}

/**
 * A subgraph's service from its SDL file and resolvers, every operation's context carrying the identity the
 * router forwarded (anonymous when it is missing or not valid).
 */
export function createSubgraphService<TContext extends BaseContext>(options: SubgraphServiceOptions<TContext>) {
  const { schemaFile, resolvers, internalSecret, context, ...service } = options;
  const readIdentity = createInternalIdentityReader(internalSecret);
  return createSchemaService<TContext>({
    ...service,
    schema: buildSubgraph(schemaFile, resolvers as never),
    context: async (base, header) => context({ ...base, identity: await readIdentity(header(IDENTITY_HEADER)) }, header),
  });
}
