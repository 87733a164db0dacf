/**
 * The HTTP server every service runs, router and subgraphs: `/health`, `/ready`, `/metrics`, the service's own
 * routes and `listen`, with `/graphql` handed to the service's handler before express sees it (express's router
 * layers cost the hot path CPU it does not need).
 */
import http from "node:http";
import express, { type Express } from "express";
import type { Metrics } from "../metrics.ts";
import { withTimeout, type ReadinessCheck } from "../service.ts";
import type { GraphQLRequestHandler } from "./graphql.ts";

export interface HttpShellOptions {
  /** The service's name, in `/health` and `/ready`. */
  name: string;
  /** The Prometheus registry served at `/metrics`. */
  metrics: Metrics;
  /** Dependencies `/ready` checks, each bounded by `readyTimeoutMs`. */
  readiness: ReadinessCheck[];
  /** Per-check timeout of `/ready` in ms (default 1 000). */
  readyTimeoutMs?: number;
  /** Adds routes (webhooks, ...); `/graphql` itself is served before express sees the request. */
  routes?: (app: Express) => void;
}

/**
 * Nothing listens until `listen` is called, so tests build a service on port 0 and production in `main.ts`.
 * Closing is the GraphQL server's: Apollo Server's drain plugin (common/http/apollo.ts) stops accepting
 * connections and lets in-flight requests finish when it stops.
 */
export function createHttpShell(options: HttpShellOptions) {
  const { name, metrics } = options;
  const app = express();
  app.disable("x-powered-by");
  let graphql: GraphQLRequestHandler | null = null;
  const httpServer = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const path = req.url?.split("?", 1)[0];
    if (path === "/graphql" && graphql && !(req.method === "GET" && /text\/html/.test(req.headers.accept ?? ""))) {
      void graphql(req, res);
    } else {
      app(req, res);
    }
  });

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

  return {
    app,
    httpServer,
    metrics,
    /**
     * Serves `/graphql` with `handler` from now on; browsers asking for the landing page (GET, Accept: text/html)
     * get `landingPage`.
     */
    serveGraphQL(handler: GraphQLRequestHandler, landingPage: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
      graphql = handler;
      app.get("/graphql", (req, res) => landingPage(req, res));
    },
    /**
     * Listens on `port` (0 picks a free one) at `host` and resolves with the bound port. The default, 127.0.0.1,
     * keeps a subgraph off the network (SUBGRAPH_HOST); the router passes HOST (every interface by default).
     */
    listen: (port: number, host = "127.0.0.1") =>
      new Promise<number>((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(port, host, () => resolve((httpServer.address() as { port: number }).port));
      }),
  };
}
