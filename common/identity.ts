import { createSigner, createVerifier, TokenError } from "fast-jwt";
import { forbidden, unauthenticated } from "./errors.ts";

/** Who is calling. `null` user means anonymous; `authError` says why a presented token was refused. */
export interface Identity {
  user: { id: string; roles: string[]; isAdmin: boolean } | null;
  authError?: string;
}

export const ANONYMOUS: Identity = { user: null };

/** Header the router uses to hand a verified identity to subgraphs. */
export const IDENTITY_HEADER = "x-flashgraph-identity";
const INTERNAL_AUDIENCE = "flashgraph-subgraphs";
const INTERNAL_TTL_SECONDS = 60;

// HS256 through fast-jwt: node:crypto HMAC, synchronous. WebCrypto (jose) cost a promise round trip and
// several times the CPU per token, and a flash sale meets tens of thousands of distinct tokens per minute.
type Verify = (token: string) => Record<string, unknown>;
const verifiers = new Map<string, Verify>();
/** HS256 verifier with `exp` required; with an audience, `aud` is required too (fast-jwt checks it only if present). */
function verifierFor(secret: string, audience?: string): Verify {
  const id = `${audience ?? ""}\u0000${secret}`;
  let verify = verifiers.get(id);
  if (!verify) {
    verify = audience
      ? createVerifier({ key: secret, algorithms: ["HS256"], requiredClaims: ["exp", "aud"], allowedAud: audience })
      : createVerifier({ key: secret, algorithms: ["HS256"], requiredClaims: ["exp"] });
    verifiers.set(id, verify);
  }
  return verify;
}

function toIdentity(payload: { sub?: unknown; roles?: unknown }): Identity {
  if (typeof payload.sub !== "string" || payload.sub.length === 0) return { user: null, authError: "Token has no subject." };
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === "string") : [];
  return { user: { id: payload.sub, roles, isAdmin: roles.includes("admin") } };
}

/** A client token's identity and, for a valid one, when it expires (ms since the epoch). */
function checkClientToken(authorization: string, secret: string): { identity: Identity; expiresAt?: number } {
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!match?.[1]) return { identity: { user: null, authError: "Authorization must be 'Bearer <token>'." } };
  try {
    const payload = verifierFor(secret)(match[1]);
    return { identity: toIdentity(payload), expiresAt: Number(payload.exp) * 1000 };
  } catch (error) {
    if (error instanceof TokenError && error.code === TokenError.codes.expired) return { identity: { user: null, authError: "Token has expired." } };
    return { identity: { user: null, authError: "Token is invalid." } };
  }
}

/**
 * Verifies a client's `Bearer` token (HS256, `exp` required). A missing header is anonymous; a bad
 * token is anonymous with `authError`, so catalogue reads still work and user operations say why not.
 */
export async function verifyClientToken(authorization: string | undefined, secret: string): Promise<Identity> {
  return authorization ? checkClientToken(authorization, secret).identity : ANONYMOUS;
}

/**
 * The router's verifier of client tokens. Every token is verified, none remembered: in a flash sale most
 * buyers are new, and a cache of tens of thousands of distinct tokens cost more (each entry survives young
 * collections and is copied into the old generation) than the synchronous HMAC it saved (bench/RESULTS.md).
 */
export function createClientTokenVerifier(secret: string) {
  return (authorization: string | undefined): Promise<Identity> => verifyClientToken(authorization, secret);
}

/**
 * Signs a development or test token for a user (`npm run token`). `expires` is a span ("12h", "30m") or an
 * absolute `exp` in seconds since the epoch (tests make expired tokens that way).
 */
export async function signClientToken(secret: string, sub: string, roles: string[] = [], expires: string | number = "12h"): Promise<string> {
  if (typeof expires === "number") return createSigner({ key: secret, algorithm: "HS256", sub })({ roles, exp: expires });
  return createSigner({ key: secret, algorithm: "HS256", sub, expiresIn: expires })({ roles });
}

const internalSigners = new Map<string, (claims: Record<string, unknown>) => string>();

/** The router's short-lived, signed statement of who the caller is; only holders of INTERNAL_SECRET can make one. */
export function signInternalIdentity(identity: Identity, secret: string): string {
  let sign = internalSigners.get(secret);
  if (!sign) {
    sign = createSigner({ key: secret, algorithm: "HS256", aud: INTERNAL_AUDIENCE, expiresIn: INTERNAL_TTL_SECONDS * 1000 });
    internalSigners.set(secret, sign);
  }
  const claims: Record<string, unknown> = { sub: identity.user?.id ?? "", roles: identity.user?.roles ?? [] };
  if (identity.authError) claims.authError = identity.authError;
  return sign(claims);
}

/**
 * Subgraph side: reads the router's identity header. Without a valid one the caller is anonymous, so a
 * subgraph called directly refuses user and admin operations whatever `Authorization` it is sent.
 */
export function createInternalIdentityReader(secret: string) {
  // Verified on every request, like client tokens (createClientTokenVerifier says why nothing is cached).
  const verify = verifierFor(secret, INTERNAL_AUDIENCE);
  return async function readInternalIdentity(header: string | undefined): Promise<Identity> {
    if (!header) return { user: null, authError: "Request did not come through the router." };
    try {
      const payload = verify(header);
      return payload.sub ? toIdentity(payload) : { user: null, authError: payload.authError as string | undefined };
    } catch {
      return { user: null, authError: "Forwarded identity is invalid." };
    }
  };
}

export function requireUser(identity: Identity): NonNullable<Identity["user"]> {
  if (!identity.user) throw unauthenticated(identity.authError ?? "Sign in to do this.");
  return identity.user;
}

export function requireAdmin(identity: Identity): NonNullable<Identity["user"]> {
  const user = requireUser(identity);
  if (!user.isAdmin) throw forbidden("This operation needs the admin role.");
  return user;
}
