import { loadConfig } from "../config.ts";

const strong = (c: string) => c.repeat(40);
const GOOD = {
  NODE_ENV: "production",
  JWT_SECRET: strong("j"),
  INTERNAL_SECRET: strong("i"),
  PAYMENT_WEBHOOK_SECRET: strong("p"),
  CORS_ORIGINS: "https://shop.example",
};
const refusal = (env: Record<string, string | undefined>) => {
  try {
    loadConfig(env as NodeJS.ProcessEnv);
    return "started";
  } catch (error) {
    return (error as Error).message;
  }
};

test("production starts with three distinct long secrets and an origin list", () => {
  expect(refusal(GOOD)).toBe("started");
});

test.each([
  ["unset", { JWT_SECRET: undefined }, "JWT_SECRET is unset"],
  ["the development default", { PAYMENT_WEBHOOK_SECRET: "dev-only-payment-webhook-secret" }, "PAYMENT_WEBHOOK_SECRET is the development default"],
  ["shorter than 32 bytes", { JWT_SECRET: "a-31-byte-secret-xxxxxxxxxxxxxx" }, "JWT_SECRET is shorter than 32 bytes"],
  ["shared by two purposes", { INTERNAL_SECRET: strong("j") }, "JWT_SECRET and INTERNAL_SECRET are the same secret"],
  ["beside no CORS origins", { CORS_ORIGINS: " " }, "CORS_ORIGINS is empty"],
])("a secret %s refuses production, naming the variable", (_case, change, message) => {
  const text = refusal({ ...GOOD, ...change });
  expect(text).toMatch(/^Refusing to start with NODE_ENV=production: /);
  expect(text).toContain(message);
});

test("every problem is named at once", () => {
  const text = refusal({ NODE_ENV: "production" });
  for (const name of ["JWT_SECRET", "INTERNAL_SECRET", "PAYMENT_WEBHOOK_SECRET", "CORS_ORIGINS"]) expect(text).toContain(name);
});

test("development and test keep their defaults", () => {
  expect(refusal({})).toBe("started");
  expect(refusal({ NODE_ENV: "test" })).toBe("started");
});
