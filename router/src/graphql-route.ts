/**
 * The router's `/graphql`, the one place that decides which path a request takes: a multipart subscription is
 * streamed (subscriptions/multipart.ts), an operation one subgraph answers alone passes through
 * (passthrough.ts), one that needs several runs on the router's plan executor when it is on
 * (executor/executor.ts), everything else runs on the gateway (Apollo Server).
 */
import type http from "node:http";
import { CLIENT_IP_HEADER, REQUEST_ID_HEADER, requestIdOf } from "../../common/forwarded-headers.ts";
import { clientAddressOf, type AddressList } from "../../common/client-address.ts";
import type { Logger } from "../../common/logger.ts";
import { answerFailure, readBody, type GraphQLRequestHandler } from "../../common/http/graphql.ts";

/** Answers a request itself (true) or leaves it to the next path (false). */
type Path = (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<boolean>;

export interface GraphQLRouteOptions {
  multipart: Path;
  /** Null when the pass-through is off (`createRouter({ passthrough: false })`). */
  passthrough: Path | null;
  /** The router's own plan executor (executor/executor.ts); null when ROUTER_EXECUTOR=gateway. */
  executor?: Path | null;
  /** Apollo Server with the gateway. */
  gateway: (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<void>;
  logger: Logger;
  /**
   * Refuses a request over the operation limits or with strings no store can hold, before any path runs
   * (common/operation-limits.ts `createRequestGuard`). Absent: no limits.
   */
  checkLimits?: (req: http.IncomingMessage, body: unknown) => void;
  /** Largest request body in bytes (OPERATION_MAX_BODY_BYTES; default 1 MiB). */
  maxBodyBytes?: number;
  /**
   * Persisted documents (persisted/requests.ts), before the limits and every path: returns the body with ids
   * replaced by their documents (a GET's URL rewritten), or throws a refusal. Absent: bodies go on as they are.
   */
  persisted?: (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => unknown;
  /** Sets the CORS headers of every answer and answers preflights itself (true): cors.ts. */
  cors: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /** Peers whose `X-Forwarded-For` names the client (TRUSTED_PROXIES; common/client-address.ts). */
  trustedProxies: AddressList;
  /**
   * The request-rate limits (rate-limit.ts), before the body is read and any path runs: false when it answered
   * the request itself (RATE_LIMITED). Absent: no limits.
   */
  admit?: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;
}

/**
 * Stamps a request with its client address (the socket's peer, or what a trusted proxy forwarded), replacing
 * any value the client sent, before any path reads it; every path forwards it to subgraphs (the flash-sale
 * per-IP limit) and the router's own per-IP limit reads it.
 */
function stampClientIp(req: http.IncomingMessage, trustedProxies: AddressList): void {
  req.headers[CLIENT_IP_HEADER] = clientAddressOf(req, trustedProxies);
}

/**
 * Settles the request's id (the caller's `x-request-id`, or a new one) before any path reads it, so every
 * answer, early refusals included, carries the id its log lines and masked errors name.
 */
function stampRequestId(req: http.IncomingMessage, res: http.ServerResponse): string {
  const requestId = requestIdOf(req.headers);
  req.headers[REQUEST_ID_HEADER] = requestId;
  res.setHeader(REQUEST_ID_HEADER, requestId);
  return requestId;
}

/** `serve` for GraphQL requests and `landingPage` for browsers (GET, Accept: text/html), as the HTTP shell takes them. */
export function createGraphQLRoute(options: GraphQLRouteOptions) {
  const serve: GraphQLRequestHandler = async (req, res) => {
    if (options.cors(req, res)) return;
    const requestId = stampRequestId(req, res);
    try {
      stampClientIp(req, options.trustedProxies);
      if (options.admit && !(await options.admit(req, res))) return;
      const read = await readBody(req, options.maxBodyBytes);
      const body = options.persisted ? options.persisted(req, res, read) : read;
      options.checkLimits?.(req, body);
      if (await options.multipart(req, res, body)) return;
      if (options.passthrough && (await options.passthrough(req, res, body))) return;
      if (options.executor && (await options.executor(req, res, body))) return;
      await options.gateway(req, res, body);
    } catch (error) {
      answerFailure(res, error, options.logger, requestId);
    }
  };
  const landingPage = (req: http.IncomingMessage, res: http.ServerResponse) => {
    stampClientIp(req, options.trustedProxies);
    void options.gateway(req, res, undefined);
  };
  return { serve, landingPage };
}
