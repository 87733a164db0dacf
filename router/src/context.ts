import type { Identity } from "../../common/identity.ts";
import type { BaseContext } from "../../common/service.ts";

export interface RouterContext extends BaseContext {
  identity: Identity;
  /** Signed once per request and reused for every subgraph call. */
  forwardedIdentity?: Promise<string>;
  /** The operation text of a WebSocket subscription (plans are cached by it). */
  operationSource?: string;
}
