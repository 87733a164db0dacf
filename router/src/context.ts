import type { Identity } from "../../common/identity.ts";
import type { BaseContext } from "../../common/service.ts";

export interface RouterContext extends BaseContext {
  identity: Identity;
  /**
   * The address the client connected from (`x-client-ip`, common/forwarded-headers.ts), forwarded for
   * per-client limits (flash sales).
   */
  clientIp?: string;
  /** The operation text of a WebSocket subscription (plans are cached by it). */
  operationSource?: string;
  /**
   * For a WebSocket subscription: sends one already-serialised `next` payload straight to the socket, so a
   * result shared by thousands of subscribers is formatted and serialised once, not once per socket.
   */
  sendNext?: (payloadJson: string) => void;
}
