/**
 * The router's `/graphql`, the one place that decides which path a request takes: a multipart subscription is
 * streamed (subscriptions/multipart.ts), an operation one subgraph answers alone passes through
 * (passthrough.ts), everything else runs on the gateway (Apollo Server).
 */
import type http from "node:http";
import { CLIENT_IP_HEADER } from "../../common/forwarded-headers.ts";
import type { Logger } from "../../common/logger.ts";
import { answerFailure, readBody, type GraphQLRequestHandler } from "../../common/http/graphql.ts";

/** Answers a request itself (true) or leaves it to the next path (false). */
type Path = (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<boolean>;

export interface GraphQLRouteOptions {
  multipart: Path;
  /** Null when the pass-through is off (`createRouter({ passthrough: false })`). */
  passthrough: Path | null;
  /** Apollo Server with the gateway. */
  gateway: (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<void>;
  logger: Logger;
}

/**
 * Stamps a request with the address its socket came from, replacing any value the client sent, before any path
 * reads it; every path forwards it to subgraphs (the flash-sale per-IP limit).
 */
function stampClientIp(req: http.IncomingMessage): void {
  req.headers[CLIENT_IP_HEADER] = req.socket.remoteAddress ?? "unknown";
}

/** `serve` for GraphQL requests and `landingPage` for browsers (GET, Accept: text/html), as the HTTP shell takes them. */
export function createGraphQLRoute(options: GraphQLRouteOptions) {
  const serve: GraphQLRequestHandler = async (req, res) => {
    try {
      const body = await readBody(req);
      stampClientIp(req);
      if (await options.multipart(req, res, body)) return;
      if (options.passthrough && (await options.passthrough(req, res, body))) return;
      await options.gateway(req, res, body);
    } catch (error) {
      answerFailure(res, error, options.logger);
    }
  };
  const landingPage = (req: http.IncomingMessage, res: http.ServerResponse) => {
    stampClientIp(req);
    void options.gateway(req, res, undefined);
  };
  return { serve, landingPage };
}
