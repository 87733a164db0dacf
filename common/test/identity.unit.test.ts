import { createSigner } from "fast-jwt";
import { createInternalIdentityReader, requireAdmin, requireUser, signClientToken, signInternalIdentity, verifyClientToken } from "../identity.ts";

const SECRET = "unit-test-jwt-secret-0123456789";
const INTERNAL = "unit-test-internal-secret-0123456789";
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as { extensions: { code: string } }).extensions.code;
  }
  return "none";
};

describe("client tokens", () => {
  test("a valid token yields the user and admin flag from its claims", async () => {
    const identity = await verifyClientToken(`Bearer ${await signClientToken(SECRET, "alice", ["admin"])}`, SECRET);
    expect(identity.user).toEqual({ id: "alice", roles: ["admin"], isAdmin: true });
  });

  test("no header is anonymous without an error", async () => {
    expect(await verifyClientToken(undefined, SECRET)).toEqual({ user: null });
  });

  test.each([
    ["forged (other secret)", async () => signClientToken("another-secret-0123456789abcdef", "alice"), "Token is invalid."],
    ["expired", async () => signClientToken(SECRET, "alice", [], Math.floor(Date.now() / 1000) - 60), "Token has expired."],
    [
      "without exp",
      async () => createSigner({ key: SECRET, algorithm: "HS256", sub: "alice", noTimestamp: true })({ roles: [] }),
      "Token is invalid.",
    ],
    ["garbage", async () => "not-a-jwt", "Token is invalid."],
  ])("%s token is anonymous with a reason, and user operations are UNAUTHENTICATED", async (_name, make, reason) => {
    const identity = await verifyClientToken(`Bearer ${await make()}`, SECRET);
    expect(identity).toEqual({ user: null, authError: reason });
    expect(codeOf(() => requireUser(identity))).toBe("UNAUTHENTICATED");
  });

  test("a non-admin is FORBIDDEN from admin operations", async () => {
    const identity = await verifyClientToken(`Bearer ${await signClientToken(SECRET, "bob")}`, SECRET);
    expect(codeOf(() => requireUser(identity))).toBe("none");
    expect(codeOf(() => requireAdmin(identity))).toBe("FORBIDDEN");
  });
});

describe("identity forwarded by the router", () => {
  const read = createInternalIdentityReader(INTERNAL);

  test("round-trips user and roles", async () => {
    const header = await signInternalIdentity({ user: { id: "carol", roles: ["admin"], isAdmin: true } }, INTERNAL);
    expect((await read(header)).user).toEqual({ id: "carol", roles: ["admin"], isAdmin: true });
  });

  test("carries the reason a client token was refused", async () => {
    const header = await signInternalIdentity({ user: null, authError: "Token has expired." }, INTERNAL);
    expect(await read(header)).toEqual({ user: null, authError: "Token has expired." });
  });

  test("a client token or a header signed with another secret is not trusted", async () => {
    const clientToken = await signClientToken(INTERNAL, "mallory", ["admin"]);
    expect((await read(clientToken)).user).toBeNull();
    const forged = await signInternalIdentity({ user: { id: "mallory", roles: ["admin"], isAdmin: true } }, "wrong-secret-0123456789abcdef");
    expect((await read(forged)).user).toBeNull();
    expect((await read(undefined)).user).toBeNull();
  });
});
