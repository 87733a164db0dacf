/**
 * Which browser origins may call the router, and the CORS headers of `/graphql` that say so: preflights are
 * answered here, and every other answer, whichever path gives it, carries the headers from its first line on
 * (graphql-route.ts). The WebSocket upgrade asks the same policy (subscriptions/websocket.ts).
 */
import type http from "node:http";

/** Whether a browser page of `origin` (the `Origin` request header) may call the router. */
export type OriginPolicy = (origin: string) => boolean;

export interface OriginPolicyOptions {
  /** Origins allowed exactly as browsers send them (`https://shop.example.com`): CORS_ORIGINS. */
  origins: readonly string[];
  /**
   * Also allow what a developer uses: http(s) pages on localhost, 127.0.0.1 and [::1] on any port, and Apollo
   * Studio's hosted Sandbox (default false; the router passes `NODE_ENV !== "production"`).
   */
  development?: boolean;
}

const LOCAL_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;
const APOLLO_STUDIO = "https://studio.apollographql.com";

export function createOriginPolicy(options: OriginPolicyOptions): OriginPolicy {
  const allowed = new Set(options.origins);
  if (options.development) allowed.add(APOLLO_STUDIO);
  return options.development ? (origin) => allowed.has(origin) || LOCAL_ORIGIN.test(origin) : (origin) => allowed.has(origin);
}

/** CORS_ORIGINS as a list: comma-separated, blanks ignored (config.ts checks each entry is an origin). */
export const parseOrigins = (value: string): string[] =>
  value
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean);

/**
 * The request headers a browser client of this API sends: JSON bodies, tokens, Apollo's CSRF-prevention
 * headers (which make a GET non-simple) and Apollo Client's client-awareness headers.
 */
const ALLOWED_HEADERS = [
  "content-type",
  "authorization",
  "apollo-require-preflight",
  "x-apollo-operation-name",
  "apollographql-client-name",
  "apollographql-client-version",
  "x-request-id",
].join(", ");

/** How long a browser may reuse a preflight's answer, in seconds (browsers cap it: Chrome at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = "600";

/**
 * Sets the CORS headers of a `/graphql` request and answers it when it is a preflight (`OPTIONS`: 204, true).
 * An allowed origin is echoed in `Access-Control-Allow-Origin` and may read `x-request-id`; any other gets no
 * CORS header, so its browser keeps the answer from the page. `Vary: Origin` on every answer, since the headers
 * depend on it (a shared cache must not hand one origin's answer to another).
 */
export function createCors(allows: OriginPolicy) {
  return (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    const origin = req.headers.origin;
    res.setHeader("vary", "Origin");
    const allowed = origin !== undefined && allows(origin);
    if (allowed) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-expose-headers", "x-request-id");
    }
    if (req.method !== "OPTIONS") return false;
    const headers: Record<string, string> = { allow: "GET, POST, OPTIONS", "content-length": "0" };
    if (allowed) {
      headers["access-control-allow-methods"] = "GET, POST";
      headers["access-control-allow-headers"] = ALLOWED_HEADERS;
      headers["access-control-max-age"] = PREFLIGHT_MAX_AGE_SECONDS;
    }
    res.writeHead(204, headers).end();
    return true;
  };
}
