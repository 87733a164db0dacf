import http from "node:http";
import { createCors, createOriginPolicy, parseOrigins } from "../src/cors.ts";
import { isJsonContentType } from "../../common/http/graphql.ts";
import { loadConfig } from "../../common/config.ts";

// Which origins may call the router, which bodies run, and the config that sets both; the e2e side (every
// path of a real router) is test/cors-csrf.e2e.test.ts.

describe("the origin policy", () => {
  const development = createOriginPolicy({ origins: ["https://shop.example.com"], development: true });
  const production = createOriginPolicy({ origins: ["https://shop.example.com"], development: false });

  test.each([
    ["https://shop.example.com", true, true],
    ["http://localhost:3000", true, false],
    ["http://127.0.0.1:5173", true, false],
    ["http://[::1]:8080", true, false],
    ["https://localhost", true, false],
    ["https://studio.apollographql.com", true, false],
    ["https://shop.example.com.evil.example", false, false],
    ["http://localhost.evil.example", false, false],
    ["http://localhost:3000/path", false, false],
    ["null", false, false],
    ["https://evil.example", false, false],
  ])("%s: development %s, production %s", (origin, inDevelopment, inProduction) => {
    expect([development(origin), production(origin)]).toEqual([inDevelopment, inProduction]);
  });

  test("production with no list allows no browser origin", () => {
    const none = createOriginPolicy({ origins: parseOrigins(" , "), development: false });
    expect(["http://localhost:3000", "https://studio.apollographql.com"].map(none)).toEqual([false, false]);
  });
});

describe("CORS headers", () => {
  const cors = createCors(createOriginPolicy({ origins: ["https://shop.example.com"], development: false }));
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    server = http.createServer((req, res) => void (cors(req, res) || res.writeHead(200, { "content-type": "text/plain" }).end("ran")));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const headersOf = async (method: string, origin: string): Promise<Record<string, string | number | null>> => {
    const response = await fetch(url, { method, headers: { origin, "access-control-request-method": "POST" } });
    const names = ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers", "vary"];
    const headers: Record<string, string | null> = Object.fromEntries(names.map((n) => [n, response.headers.get(n)]));
    return { status: response.status, body: await response.text(), ...headers };
  };

  test("a preflight from an allowed origin is answered with what a browser client needs", async () => {
    const answer = await headersOf("OPTIONS", "https://shop.example.com");
    expect(answer).toMatchObject({ status: 204, body: "", "access-control-allow-origin": "https://shop.example.com", vary: "Origin" });
    expect(answer["access-control-allow-methods"]).toBe("GET, POST");
    expect(String(answer["access-control-allow-headers"]).split(", ")).toEqual(
      expect.arrayContaining([
        "content-type",
        "authorization",
        "apollo-require-preflight",
        "x-apollo-operation-name",
        "apollographql-client-name",
        "apollographql-client-version",
      ]),
    );
  });

  test("another origin gets no CORS header, on a preflight or an actual request", async () => {
    expect(await headersOf("OPTIONS", "https://evil.example")).toMatchObject({
      status: 204,
      "access-control-allow-origin": null,
      "access-control-allow-methods": null,
      vary: "Origin",
    });
    expect(await headersOf("GET", "https://evil.example")).toMatchObject({ status: 200, body: "ran", "access-control-allow-origin": null });
    expect(await headersOf("GET", "https://shop.example.com")).toMatchObject({
      body: "ran",
      "access-control-allow-origin": "https://shop.example.com",
    });
  });
});

test.each([
  ["application/json", true],
  ["Application/JSON; charset=utf-8", true],
  ["  application/json  ;charset=utf-8", true],
  ["application/graphql-response+json", true],
  ["text/plain; x=json", false],
  ["text/plain;application/json", false],
  ["application/x-www-form-urlencoded", false],
  ["multipart/form-data; boundary=x", false],
  ["application/jsonp", false],
  [undefined, false],
])("content type %s runs as JSON: %s", (contentType, json) => {
  expect(isJsonContentType(contentType)).toBe(json);
});

describe("config", () => {
  test("CORS_ORIGINS takes origins only, and names itself when it gets anything else", () => {
    expect(parseOrigins(loadConfig({ CORS_ORIGINS: "https://a.example, http://localhost:3000" }).CORS_ORIGINS)).toEqual([
      "https://a.example",
      "http://localhost:3000",
    ]);
    for (const bad of ["*", "https://a.example/", "a.example", "https://A.example"])
      expect(() => loadConfig({ CORS_ORIGINS: bad })).toThrow(/CORS_ORIGINS/);
  });

  test("INTROSPECTION is unset by default (the router follows NODE_ENV) and a flag when given", () => {
    expect([
      loadConfig({}).INTROSPECTION,
      loadConfig({ INTROSPECTION: "true" }).INTROSPECTION,
      loadConfig({ INTROSPECTION: "0" }).INTROSPECTION,
    ]).toEqual([undefined, true, false]);
  });
});
