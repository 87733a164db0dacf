/**
 * Names of the headers the router sets on every subgraph call besides the signed identity (identity.ts), and
 * how a service reads the request id: defined once, because the router writes them and the subgraphs read them.
 */
import { randomUUID } from "node:crypto";

/** The request id every log line and subgraph call carries; the router generates it when a client sends none. */
export const REQUEST_ID_HEADER = "x-request-id";

/**
 * The client's address as the router's socket saw it. The router overwrites whatever a client sends under this
 * name, so a subgraph behind it can trust it (a deployment behind a proxy would take it from X-Forwarded-For).
 */
export const CLIENT_IP_HEADER = "x-client-ip";

/** The request id a caller sent (`x-request-id`), or a new one. */
export function requestIdOf(headers: Readonly<Record<string, unknown>>): string {
  const id = headers[REQUEST_ID_HEADER];
  return typeof id === "string" ? id : randomUUID();
}
