import http from "node:http";
import { randomUUID } from "node:crypto";
import express, { type Express } from "express";
import { ApolloServer, type ApolloServerPlugin } from "@apollo/server";
import { ApolloServerPluginDrainHttpServer } from "@apollo/server/plugin/drainHttpServer";
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import type { GraphQLSchema } from "graphql";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import type { GatewayInterface } from "@apollo/server-gateway-interface";
import type { Logger } from "./logger.ts";
import { formatError, logUnexpectedErrors } from "./errors.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { BATCH_HEADER, BodyError, BufferedResponse, createGraphQLHandler, MAX_BATCH, readBody, type RequestLike, type ResponseLike } from "./graphql-http.ts";
import { createFastPath } from "./graphql-fast.ts";

export interface ReadinessCheck {
  name: string;
  check: () => Promise<unknown>;
}

export interface BaseContext {
  requestId: string;
  logger: Logger;
}

export interface ServiceOptions<TContext extends BaseContext> {
  name: string;
  /** A subgraph's schema, or (for the router) a gateway that plans over the supergraph. */
  schema?: GraphQLSchema;
  gateway?: GatewayInterface;
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
  plugins?: ApolloServerPlugin<TContext>[];
  /** Per-check timeout of `/ready` in ms (default 1 000). */
  readyTimeoutMs?: number;
  /** Adds routes (webhooks, ...); `/graphql` itself is served before express sees the request. */
  routes?: (app: Express) => void;
  /**
   * Looks at a `/graphql` request (body parsed) before Apollo Server does; returns true when it answered
   * it itself (the router streams multipart subscriptions this way).
   */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<boolean>;
  /** The Prometheus registry served at `/metrics` (default: a new one), for callers that record on it too. */
  metrics?: Metrics;
  /**
   * Subgraphs: run known-valid JSON `POST`s on graphql-js directly (graphql-fast.ts; default true). Off when
   * `plugins` are given, since the fast path does not run Apollo plugins.
   */
  fastPath?: boolean;
}

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

/** The request id a caller sent (`x-request-id`), or a new one: every log line and subgraph call carries it. */
export const requestIdOf = (req: RequestLike): string => (req.headers["x-request-id"] as string | undefined) ?? randomUUID();

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * An HTTP service around one Apollo Server: `POST|GET /graphql`, `/health`, `/ready`, `/metrics`.
 * Nothing listens until `listen` is called, so tests build it on port 0 and production in `main.ts`.
 */
export async function createService<TContext extends BaseContext>(options: ServiceOptions<TContext>) {
  const { name, logger } = options;
  const app = express();
  app.disable("x-powered-by");
  let graphql: ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) | null = null;
  const httpServer = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const path = req.url?.split("?", 1)[0];
    if (path === "/graphql" && graphql && !(req.method === "GET" && /text\/html/.test(req.headers.accept ?? ""))) {
      void graphql(req, res);
    } else {
      app(req, res);
    }
  });
  const metrics = options.metrics ?? createMetrics(name);
  const apollo = new ApolloServer<TContext>({
    ...(options.gateway ? { gateway: options.gateway } : { schema: options.schema! }),
    formatError,
    includeStacktraceInErrorResponses: false,
    // The lifecycle in main.ts handles SIGTERM: it drains this server, then closes Kafka, Redis and
    // PostgreSQL in reverse start order. Apollo's own handler would stop only the server, then exit.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      // Subgraphs set no cache hints; the default cache-control plugin would still wrap every field resolver.
      ...(options.gateway ? [] : [ApolloServerPluginInlineTraceDisabled(), ApolloServerPluginCacheControlDisabled()]),
      errorLoggingPlugin<TContext>(), metrics.plugin, ...(options.plugins ?? [])],
    introspection: true,
  });
  await apollo.start();

  app.get("/health", (_req, res) => {
    res.json({ status: "ok", service: name });
  });
  app.get("/ready", async (_req, res) => {
    const results = await Promise.all(
      options.readiness.map(async ({ name: dep, check }) => {
        try {
          await withTimeout(check(), options.readyTimeoutMs ?? 1_000, dep);
          return [dep, "ok"] as const;
        } catch (error) {
          return [dep, (error as Error).message] as const;
        }
      }),
    );
    const ready = results.every(([, status]) => status === "ok");
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not ready", service: name, dependencies: Object.fromEntries(results) });
  });
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  options.routes?.(app);
  const contextFor = async (req: RequestLike, res: ResponseLike) => {
    const requestId = requestIdOf(req);
    res.setHeader("x-request-id", requestId);
    return options.context({ requestId, logger: logger.child({ requestId }) }, (name) => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(", ") : value;
    });
  };
  const handle = createGraphQLHandler(apollo, contextFor);
  const fast =
    options.schema && !options.gateway && !options.plugins?.length && options.fastPath !== false
      ? createFastPath({ schema: options.schema, context: contextFor, record: metrics.record })
      : null;
  const fail = (res: ResponseLike, error: unknown) => {
    const status = error instanceof BodyError ? error.status : 500;
    if (status === 500) logger.error({ err: error }, "unexpected error serving /graphql");
    if (!res.headersSent) res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ errors: [{ message: status === 500 ? "Internal server error" : (error as Error).message, extensions: { code: status === 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST" } }] }));
  };
  // Subgraphs answer the router's batches (router/src/subgraph-batch.ts): each operation runs as if it had come
  // alone, with its own headers (the signed identity among them), and its status and body go back in order.
  const batch = async (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => {
    const valid = Array.isArray(body) && body.length > 0 && body.length <= MAX_BATCH && body.every((e) => typeof e?.headers === "object" && e.headers !== null && "body" in e);
    if (!valid) throw new BodyError(`A batch is a JSON array of 1 to ${MAX_BATCH} { headers, body } objects.`, 400);
    const answers = await Promise.all(
      (body as { headers: Record<string, unknown>; body: unknown }[]).map(async (entry) => {
        const headers: http.IncomingHttpHeaders = { "content-type": "application/json" };
        for (const [name, value] of Object.entries(entry.headers)) if (typeof value === "string") headers[name.toLowerCase()] = value;
        const one = { method: "POST", url: req.url, headers };
        const reply = new BufferedResponse();
        try {
          if (!(fast && (await fast(one, reply, entry.body)))) await handle(one, reply, entry.body);
        } catch (error) {
          fail(reply, error);
        }
        return reply.done;
      }),
    );
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(answers));
  };
  graphql = async (req, res) => {
    try {
      const body = await readBody(req);
      if (options.schema && req.headers[BATCH_HEADER] === "1") return await batch(req, res, body);
      if (options.intercept && (await options.intercept(req, res, body))) return;
      if (fast && (await fast(req, res, body))) return;
      await handle(req, res, body);
    } catch (error) {
      fail(res, error);
    }
  };
  // Browsers asking for the landing page (GET /graphql, Accept: text/html) go through Apollo as well.
  app.get("/graphql", (req, res) => void handle(req, res, undefined));

  const subscriptions = options.subscriptions && options.schema ? serveSubscriptions(httpServer, options.schema, options, logger) : null;

  return {
    app,
    httpServer,
    metrics,
    /** Listens on `port` (0 picks a free one) and resolves with the bound port. */
    listen: (port: number, host = "0.0.0.0") =>
      new Promise<number>((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(port, host, () => resolve((httpServer.address() as { port: number }).port));
      }),
    /** Stops accepting requests, lets in-flight ones finish, then closes the server. */
    close: async () => {
      await subscriptions?.close();
      await apollo.stop();
    },
  };
}

/** graphql-ws on the service's own port; the operation's headers travel in `extensions.headers`. */
function serveSubscriptions<TContext extends BaseContext>(
  httpServer: http.Server,
  schema: GraphQLSchema,
  options: ServiceOptions<TContext>,
  logger: Logger,
) {
  const wss = new WebSocketServer({ server: httpServer, path: "/graphql" });
  const server = useServer(
    {
      schema,
      context: async (_ctx, _id, payload) => {
        const headers = (payload.extensions?.headers ?? {}) as Record<string, string | undefined>;
        const requestId = headers["x-request-id"] ?? randomUUID();
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

export type Service = Awaited<ReturnType<typeof createService>>;
