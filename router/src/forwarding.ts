/**
 * The headers every call from the router to a subgraph carries, built in this one place for the gateway's
 * fetches, the pass-through (alone or in a batch) and subscription upstreams, so no path forwards less or more.
 */
import { LRUCache } from "lru-cache";
import { IDENTITY_HEADER, signInternalIdentity, type Identity } from "../../common/identity.ts";
import { CLIENT_IP_HEADER, REQUEST_ID_HEADER } from "../../common/forwarded-headers.ts";

/** Who a subgraph call is made for: the fields of the router's context (context.ts) it forwards. */
export interface Caller {
  identity: Identity;
  requestId: string;
  /** The address the client connected from; absent for subscriptions, whose upstream several clients share. */
  clientIp?: string;
}

/** Signs the identity a subgraph will trust once per caller and reuses it for 30 s (it is valid for 60 s). */
export function createIdentitySigner(secret: string) {
  const cache = new LRUCache<string, string>({ max: 50_000, ttl: 30_000 });
  return (identity: Identity) => {
    const key = JSON.stringify([identity.user?.id ?? null, identity.user?.roles ?? [], identity.authError ?? null]);
    let signed = cache.get(key);
    if (!signed) cache.set(key, (signed = signInternalIdentity(identity, secret)));
    return signed;
  };
}

export type IdentitySigner = ReturnType<typeof createIdentitySigner>;

/**
 * The caller's signed identity (subgraphs trust nothing else), the request id and, when known, the client's
 * address (`x-flashgraph-identity`, `x-request-id`, `x-client-ip`).
 */
export function forwardedHeaders(sign: IdentitySigner, caller: Caller): Record<string, string> {
  const headers: Record<string, string> = { [IDENTITY_HEADER]: sign(caller.identity), [REQUEST_ID_HEADER]: caller.requestId };
  if (caller.clientIp) headers[CLIENT_IP_HEADER] = caller.clientIp;
  return headers;
}
