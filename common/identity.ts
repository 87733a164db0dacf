import { createSigner, createVerifier, TokenError } from "fast-jwt";
import { forbidden, unauthenticated } from "./errors.ts";
import { createJwksVerifier, JWKS_ALGORITHMS } from "./jwks-verifier.ts";

/** Who is calling. `null` user means anonymous; `authError` says why a presented token was refused. */
export interface Identity {
  user: { id: string; roles: string[]; isAdmin: boolean } | null;
  authError?: string;
  /** When the client token that names `user` expires, in ms since the epoch; sockets and streams end then. */
  expiresAt?: number;
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
/**
 * HS256 verifier with `exp` required; with an issuer or audience, `iss` or `aud` is required too (fast-jwt
 * checks them only when present unless they are required claims).
 */
function verifierFor(secret: string, audience?: string, issuer?: string): Verify {
  const id = `${issuer ?? ""}\u0000${audience ?? ""}\u0000${secret}`;
  let verify = verifiers.get(id);
  if (!verify) {
    verify = createVerifier({
      key: secret,
      algorithms: ["HS256"],
      requiredClaims: ["exp", ...(audience ? ["aud"] : []), ...(issuer ? ["iss"] : [])],
      ...(audience ? { allowedAud: audience } : {}),
      ...(issuer ? { allowedIss: issuer } : {}),
    });
    verifiers.set(id, verify);
  }
  return verify;
}

function toIdentity(payload: { sub?: unknown; roles?: unknown }): Identity {
  if (typeof payload.sub !== "string" || payload.sub.length === 0) return { user: null, authError: "Token has no subject." };
  const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === "string") : [];
  return { user: { id: payload.sub, roles, isAdmin: roles.includes("admin") } };
}

/** A client token's identity with its expiry (`exp` is required, so a verified token has one). */
function clientIdentity(payload: { sub?: unknown; roles?: unknown; exp?: unknown }): Identity {
  const identity = toIdentity(payload);
  if (identity.user) identity.expiresAt = Number(payload.exp) * 1000;
  return identity;
}

const EXPIRED: Identity = { user: null, authError: "Token has expired." };
const INVALID: Identity = { user: null, authError: "Token is invalid." };
const JWKS_REASONS: Record<"expired" | "invalid" | "unavailable", Identity> = {
  expired: EXPIRED,
  invalid: INVALID,
  unavailable: { user: null, authError: "Token could not be verified: the identity provider's keys are unavailable." },
};

/** How client tokens are verified (config: JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE, JWT_JWKS). */
export interface ClientTokenOptions {
  /** HS256 secret (`JWT_SECRET`): development tokens, `npm run token`. */
  secret: string;
  /** When set, every client token must carry this `iss` (default: not checked). */
  issuer?: string;
  /** When set, every client token must carry this `aud` (default: not checked). */
  audience?: string;
  /**
   * A JSON Web Key Set (an http(s) URL or a file path) that RS256/ES256 tokens of an identity provider are
   * verified against (default: none, only HS256). HS256 tokens still go to `secret`.
   */
  jwks?: string;
  /** Timeout of one JWKS request in ms (default 5 000). */
  jwksTimeoutMs?: number;
}

/** The `alg` of a token's header, without verifying anything; undefined when it is not a readable JWT. */
function algorithmOf(token: string): unknown {
  try {
    return (JSON.parse(Buffer.from(token.slice(0, token.indexOf(".")), "base64url").toString("utf8")) as { alg?: unknown }).alg;
  } catch {
    return undefined;
  }
}

/**
 * The router's verifier of client tokens. Every token is verified, none remembered: in a flash sale most
 * buyers are new, and a cache of tens of thousands of distinct tokens cost more (each entry survives young
 * collections and is copied into the old generation) than the synchronous HMAC it saved (bench/RESULTS.md).
 * A missing header is anonymous; a bad token is anonymous with `authError`, so catalogue reads still work and
 * user operations say why not. Without `jwks` no header is even decoded twice: HS256 stays the one path.
 */
export function createClientTokenVerifier(options: string | ClientTokenOptions) {
  const { secret, issuer, audience, jwks, jwksTimeoutMs } = typeof options === "string" ? { secret: options } : options;
  const verifyHs256 = verifierFor(secret, audience, issuer);
  const verifyWithJwks = jwks ? createJwksVerifier({ jwks, issuer, audience, timeoutMs: jwksTimeoutMs }) : null;

  const checkHs256 = (token: string): Identity => {
    try {
      return clientIdentity(verifyHs256(token));
    } catch (error) {
      return error instanceof TokenError && error.code === TokenError.codes.expired ? EXPIRED : INVALID;
    }
  };
  const checkWithJwks = async (token: string): Promise<Identity> => {
    const result = await verifyWithJwks!(token);
    return result.ok ? clientIdentity(result.payload) : JWKS_REASONS[result.reason];
  };

  return (authorization: string | undefined): Promise<Identity> => {
    if (!authorization) return Promise.resolve(ANONYMOUS);
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!match?.[1]) return Promise.resolve({ user: null, authError: "Authorization must be 'Bearer <token>'." });
    const token = match[1];
    if (verifyWithJwks && JWKS_ALGORITHMS.includes(algorithmOf(token) as string)) return checkWithJwks(token);
    return Promise.resolve(checkHs256(token));
  };
}

/** Verifies one client token with the HS256 secret alone (see createClientTokenVerifier). */
export function verifyClientToken(authorization: string | undefined, secret: string): Promise<Identity> {
  return createClientTokenVerifier(secret)(authorization);
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
