import type { Identity } from "../../common/identity.ts";
import type { BaseContext } from "../../common/service.ts";

/**
 * The client's address as the router's socket saw it. The router overwrites whatever a client sends under this
 * name, so a subgraph behind it can trust it (a deployment behind a proxy would take it from X-Forwarded-For).
 */
export const CLIENT_IP_HEADER = "x-client-ip";

export interface RouterContext extends BaseContext {
  identity: Identity;
  /** The address the client connected from (CLIENT_IP_HEADER), forwarded for per-client limits (flash sales). */
  clientIp?: string;
  /** The operation text of a WebSocket subscription (plans are cached by it). */
  operationSource?: string;
  /**
   * For a WebSocket subscription: sends one already-serialised `next` payload straight to the socket, so a
   * result shared by thousands of subscribers is formatted and serialised once, not once per socket.
   */
  sendNext?: (payloadJson: string) => void;
}
