import http from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { createSigner } from "fast-jwt";
import { createClientTokenVerifier } from "../identity.ts";

const SECRET = "unit-test-jwt-secret-0123456789abcdef";
const ISSUER = "https://id.example";
const AUDIENCE = "flashgraph";
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

interface Key {
  alg: "RS256" | "ES256";
  privateKey: CryptoKey;
  jwk: JWK;
}
async function makeKey(alg: Key["alg"], kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}
function sign(key: Key, claims: { iss?: string; aud?: string; exp?: number; sub?: string } = {}) {
  const { sub = "alice", exp = inAnHour(), iss = ISSUER, aud = AUDIENCE } = claims;
  return new SignJWT({ roles: ["admin"] })
    .setProtectedHeader({ alg: key.alg, kid: key.jwk.kid })
    .setSubject(sub)
    .setIssuer(iss)
    .setAudience(aud)
    .setExpirationTime(exp)
    .sign(key.privateKey);
}

let rsa: Key;
let ec: Key;
let stranger: Key;
let jwksFile: string;
let server: http.Server;
let jwksUrl: string;
beforeAll(async () => {
  [rsa, ec, stranger] = await Promise.all([makeKey("RS256", "rsa-1"), makeKey("ES256", "ec-1"), makeKey("RS256", "rsa-1")]);
  const body = JSON.stringify({ keys: [rsa.jwk, ec.jwk] });
  jwksFile = join(mkdtempSync(join(tmpdir(), "jwks-")), "jwks.json");
  writeFileSync(jwksFile, body);
  server = http.createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(body));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/.well-known/jwks.json`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

describe.each([
  ["a JWKS file", () => jwksFile],
  ["a JWKS URL", () => jwksUrl],
])("RS256/ES256 tokens verified against %s", (_name, jwks) => {
  const verifier = () => createClientTokenVerifier({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE, jwks: jwks() });

  test.each(["RS256", "ES256"])("a %s token with the right issuer and audience names its user and expiry", async (alg) => {
    const exp = inAnHour();
    const identity = await verifier()(`Bearer ${await sign(alg === "RS256" ? rsa : ec, { exp })}`);
    expect(identity).toEqual({ user: { id: "alice", roles: ["admin"], isAdmin: true }, expiresAt: exp * 1000 });
  });

  test.each([
    ["another issuer", () => sign(rsa, { iss: "https://evil.example" }), "Token is invalid."],
    ["another audience", () => sign(rsa, { aud: "someone-else" }), "Token is invalid."],
    ["a key not in the set (same kid)", () => sign(stranger), "Token is invalid."],
    ["an expired token", () => sign(ec, { exp: Math.floor(Date.now() / 1000) - 60 }), "Token has expired."],
  ])("%s is refused", async (_case, make, reason) => {
    expect(await verifier()(`Bearer ${await make()}`)).toEqual({ user: null, authError: reason });
  });

  test("an HS256 token signed with the public key's text is refused (no algorithm confusion)", async () => {
    const forged = createSigner({ key: JSON.stringify(rsa.jwk), algorithm: "HS256", sub: "mallory", iss: ISSUER, aud: AUDIENCE, expiresIn: 60_000 })(
      {},
    );
    expect((await verifier()(`Bearer ${forged}`)).user).toBeNull();
  });
});

test("HS256 development tokens still verify beside a JWKS, and must carry the issuer and audience when those are set", async () => {
  const verify = createClientTokenVerifier({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE, jwks: jwksFile });
  const hs = (claims: Record<string, string>) => createSigner({ key: SECRET, algorithm: "HS256", sub: "bob", expiresIn: 60_000, ...claims })({});
  expect((await verify(`Bearer ${hs({ iss: ISSUER, aud: AUDIENCE })}`)).user?.id).toBe("bob");
  expect(await verify(`Bearer ${hs({ aud: AUDIENCE })}`)).toEqual({ user: null, authError: "Token is invalid." });
  expect(await verify(`Bearer ${hs({ iss: ISSUER })}`)).toEqual({ user: null, authError: "Token is invalid." });
  expect(await verify(`Bearer ${hs({ iss: "https://evil.example", aud: AUDIENCE })}`)).toEqual({ user: null, authError: "Token is invalid." });
});

test("without a JWKS, RS256 tokens are refused", async () => {
  expect(await createClientTokenVerifier(SECRET)(`Bearer ${await sign(rsa)}`)).toEqual({ user: null, authError: "Token is invalid." });
});

test("an unreachable key set says so rather than calling the token invalid", async () => {
  const verify = createClientTokenVerifier({ secret: SECRET, jwks: "http://127.0.0.1:9/jwks.json", jwksTimeoutMs: 500 });
  expect((await verify(`Bearer ${await sign(rsa)}`)).authError).toMatch(/keys are unavailable/);
});
