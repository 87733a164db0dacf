import type { Identity } from "../../common/identity.ts";
import type { BaseContext } from "../../common/service.ts";

export interface RouterContext extends BaseContext {
  identity: Identity;
  /** The operation text of a WebSocket subscription (plans are cached by it). */
  operationSource?: string;
}
