import { readFileSync } from "node:fs";
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";

/** The asymmetric algorithms a JSON Web Key Set may verify: what identity providers sign with. */
export const JWKS_ALGORITHMS = ["RS256", "ES256"];

export interface JwksVerifierOptions {
  /** An `https://` or `http://` URL of the key set, or the path of a JSON file holding it. */
  jwks: string;
  /** Required `iss` when set. */
  issuer?: string;
  /** Required `aud` when set. */
  audience?: string;
  /** Timeout of one key set request in ms (default 5 000, jose's). */
  timeoutMs?: number;
}

export type JwksResult = { ok: true; payload: JWTPayload } | { ok: false; reason: "expired" | "invalid" | "unavailable" };

/**
 * Verifies RS256/ES256 tokens of a real identity provider against its key set. A URL is fetched by jose
 * on first use and cached (refetched at most every 30 s when a token names an unknown key, and after 10
 * minutes); a file is read once, here, so a missing or malformed file stops startup.
 */
export function createJwksVerifier(options: JwksVerifierOptions) {
  const keys = /^https?:\/\//i.test(options.jwks)
    ? createRemoteJWKSet(new URL(options.jwks), { timeoutDuration: options.timeoutMs ?? 5_000 })
    : createLocalJWKSet(JSON.parse(readFileSync(options.jwks, "utf8")) as Parameters<typeof createLocalJWKSet>[0]);
  const verifyOptions = {
    algorithms: JWKS_ALGORITHMS,
    requiredClaims: ["exp", ...(options.issuer ? ["iss"] : []), ...(options.audience ? ["aud"] : [])],
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
  };
  return async function verifyWithJwks(token: string): Promise<JwksResult> {
    try {
      return { ok: true, payload: (await jwtVerify(token, keys, verifyOptions)).payload };
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { ok: false, reason: "expired" };
      // The provider's key set could not be had (timeout, network, not 200, not JSON: jose's plain JOSEError):
      // the token may be fine, so say so rather than "invalid".
      if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError) || error.constructor === errors.JOSEError) {
        return { ok: false, reason: "unavailable" };
      }
      return { ok: false, reason: "invalid" };
    }
  };
}
