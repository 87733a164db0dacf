import { Agent } from "undici";
import { signInternalIdentity, IDENTITY_HEADER } from "../common/identity.ts";
import { adminToken, config, startRouter, startStack, uniqueSku, type Stack } from "./harness.ts";
import { healthDuring } from "./health-during.ts";
import { passthroughFor } from "./passthrough-for.ts";

// CORS on the router's /graphql (router/src/cors.ts) and CSRF prevention on every path of every service: only a
// JSON body runs (common/http/graphql.ts readBody); a browser's cross-site form or text/plain POST changes nothing.

const SHOP = "https://shop.example";
const STUDIO = "https://studio.apollographql.com";
let stack: Stack;
let admin: string;
let production: Awaited<ReturnType<typeof startRouter>>;
const agent = new Agent();
const { route } = passthroughFor({ product: "http://p", inventory: "http://i", order: "http://o", "flash-sale": "http://f" }, agent, 1_000);
beforeAll(async () => {
  stack = await startStack();
  admin = await adminToken();
  production = await startRouter(stack.urls, { development: false, allowedOrigins: ["https://shop.example"] });
  // Warm both routers (first connections, first plans), so a probe's time is the attack's and not a cold start's.
  for (const url of [stack.routerUrl, production.url]) {
    await fetch(new URL("/health", url));
    await preflight(url, SHOP);
  }
});
afterAll(async () => {
  await production.close();
  await stack.close();
  await agent.close();
});

const corsOf = (response: Response) => ({
  status: response.status,
  origin: response.headers.get("access-control-allow-origin"),
  vary: response.headers.get("vary"),
});
const preflight = (url: string, origin: string) =>
  fetch(url, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, authorization" },
  });

describe("CORS", () => {
  test("a preflight from an allowed origin is answered for it; another origin gets no CORS header", async () => {
    const { result, slowestMs } = await healthDuring(production.url, async () => {
      const allowed = await preflight(production.url, SHOP);
      const refused = await preflight(production.url, "https://evil.example");
      return { allowed, refused };
    });
    expect(corsOf(result.allowed)).toEqual({ status: 204, origin: SHOP, vary: "Origin" });
    expect(result.allowed.headers.get("access-control-allow-methods")).toBe("GET, POST");
    expect(result.allowed.headers.get("access-control-allow-headers")).toMatch(/content-type.*authorization.*apollo-require-preflight/);
    expect(corsOf(result.refused)).toEqual({ status: 204, origin: null, vary: "Origin" });
    expect(result.refused.headers.get("access-control-allow-methods")).toBeNull();
    expect(slowestMs).toBeLessThan(200);
  });

  test("development allows Apollo Studio and local pages on any port; production only its list", async () => {
    const origins = async (url: string) =>
      Promise.all([STUDIO, "http://localhost:5173", "http://127.0.0.1:3000"].map(async (o) => corsOf(await preflight(url, o)).origin));
    expect(await origins(stack.routerUrl)).toEqual([STUDIO, "http://localhost:5173", "http://127.0.0.1:3000"]);
    expect(await origins(production.url)).toEqual([null, null, null]);
  });

  test.each([
    ["pass-through", `{ product(id: "00000000-0000-4000-8000-000000000000") { name } }`, "product"],
    ["gateway", `{ product(id: "00000000-0000-4000-8000-000000000000") { name stock { available } } }`, "gateway"],
  ])("an actual POST on the %s path carries the headers for an allowed origin only", async (_path, query, routed) => {
    expect(route({ query }) ? "product" : "gateway").toBe(routed);
    const post = (origin: string) =>
      fetch(production.url, { method: "POST", headers: { origin, "content-type": "application/json" }, body: JSON.stringify({ query }) });
    const [allowed, refused] = [await post(SHOP), await post("https://evil.example")];
    expect([corsOf(allowed), await allowed.json()]).toEqual([{ status: 200, origin: SHOP, vary: "Origin" }, { data: { product: null } }]);
    expect(allowed.headers.get("access-control-expose-headers")).toBe("x-request-id");
    expect(corsOf(refused)).toEqual({ status: 200, origin: null, vary: "Origin" });
  });
});

describe("CSRF: only JSON bodies run", () => {
  const CREATE = {
    "pass-through": `mutation($input: CreateProductInput!) { createProduct(input: $input) { id sku } }`,
    gateway: `mutation($input: CreateProductInput!) { createProduct(input: $input) { id stock { available } } }`,
  };
  const inputOf = (sku: string) => ({ sku, name: "CSRF lamp", description: "-", priceCents: 100, currency: "USD" });
  /** The bodies a browser sends cross-site without a preflight, and a body with no content type at all. */
  const attacks: [string, (query: string, sku: string) => { headers: Record<string, string>; body: string | FormData | Uint8Array<ArrayBuffer> }][] =
    [
      [
        "text/plain; x=json",
        (query, sku) => ({ headers: { "content-type": "text/plain; x=json" }, body: JSON.stringify({ query, variables: { input: inputOf(sku) } }) }),
      ],
      [
        "application/x-www-form-urlencoded",
        (query, sku) => ({
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ query, variables: JSON.stringify({ input: inputOf(sku) }) }).toString(),
        }),
      ],
      [
        "multipart/form-data",
        (query, sku) => {
          const form = new FormData();
          form.set("operations", JSON.stringify({ query, variables: { input: inputOf(sku) } }));
          return { headers: {}, body: form };
        },
      ],
      [
        "no content type",
        (query, sku) => ({ headers: {}, body: new TextEncoder().encode(JSON.stringify({ query, variables: { input: inputOf(sku) } })) }),
      ],
    ];
  const created = async (sku: string) => (await stack.prisma.product.findFirst({ where: { sku } })) !== null;

  /** Sends every attack to `url` (health probed meanwhile), then the same mutation as JSON, which must run. */
  const expectRefused = async (url: string, query: string, headers: Record<string, string>) => {
    const skus = attacks.map(() => uniqueSku("CSRF"));
    const { result, slowestMs } = await healthDuring(url, () =>
      Promise.all(
        attacks.map(async ([, attack], i) => {
          const { headers: type, body } = attack(query, skus[i]!);
          const response = await fetch(url, { method: "POST", headers: { origin: "https://evil.example", ...headers, ...type }, body });
          return { status: response.status, body: (await response.json()) as { errors: { extensions: { code: string } }[] } };
        }),
      ),
    );
    expect(result.map((r) => [r.status, r.body.errors[0]!.extensions.code])).toEqual(attacks.map(() => [400, "BAD_REQUEST"]));
    expect(await Promise.all(skus.map(created))).toEqual(attacks.map(() => false));
    expect(slowestMs).toBeLessThan(200);
    const control = uniqueSku("CSRF");
    const json = await fetch(url, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ query, variables: { input: inputOf(control) } }),
    });
    expect(json.status).toBe(200);
    expect(await created(control)).toBe(true);
  };

  test.each(["pass-through", "gateway"] as const)("the router's %s path refuses them with 400 and creates nothing", async (path) => {
    expect(route({ query: CREATE[path] }) ? "pass-through" : "gateway").toBe(path);
    await expectRefused(stack.routerUrl, CREATE[path], { authorization: `Bearer ${admin}` });
  });

  test("a subgraph called directly refuses them too", async () => {
    const identity = signInternalIdentity({ user: { id: "csrf-admin", roles: ["admin"], isAdmin: true } }, config.INTERNAL_SECRET);
    await expectRefused(stack.urls.product!, CREATE["pass-through"], { [IDENTITY_HEADER]: identity });
  });

  test("a refused request still carries the CORS headers of an allowed origin and its request id", async () => {
    const response = await fetch(production.url, { method: "POST", headers: { origin: SHOP, "content-type": "text/plain" }, body: "{}" });
    expect(corsOf(response)).toEqual({ status: 400, origin: SHOP, vary: "Origin" });
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("a GET runs only with a header a cross-site page cannot send without a preflight (Apollo's CSRF prevention)", async () => {
    const url = `${stack.routerUrl}?query=${encodeURIComponent("{ __typename }")}`;
    const plain = await fetch(url);
    const preflighted = await fetch(url, { headers: { "apollo-require-preflight": "true" } });
    expect([plain.status, preflighted.status, await preflighted.json()]).toEqual([400, 200, { data: { __typename: "Query" } }]);
  });
});
