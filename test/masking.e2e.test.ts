import { Writable } from "node:stream";
import { randomUUID } from "node:crypto";
import { Agent } from "undici";
import { pino } from "pino";
import { createPrisma } from "../common/prisma.ts";
import { freePort } from "../common/ports.ts";
import type { Logger } from "../common/logger.ts";
import { createProductService } from "../subgraphs/product/src/server.ts";
import { config, startRouter, startStack, type Stack } from "./harness.ts";
import { healthDuring } from "./health-during.ts";
import { passthroughFor } from "./passthrough-for.ts";

// An unexpected error (here a real one: the product subgraph's PostgreSQL does not answer) reaches a client as
// `Internal server error` / INTERNAL_SERVER_ERROR with the request id of the response's `x-request-id`, on
// every path, and never its text; the original is logged in full under that id.

/** A logger whose lines the test reads. */
function capturingLogger(): { logger: Logger; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(line) as Record<string, any>);
      done();
    },
  });
  return { logger: pino({ level: "error" }, sink) as unknown as Logger, lines };
}

let stack: Stack;
let productUrl: string;
let router: Awaited<ReturnType<typeof startRouter>>;
let closeProduct: () => Promise<unknown>;
const subgraphLogs = capturingLogger();
const agent = new Agent();
const { route } = passthroughFor({ product: "http://p", inventory: "http://i", order: "http://o", "flash-sale": "http://f" }, agent, 1_000);
beforeAll(async () => {
  stack = await startStack();
  // Nothing listens on this port: every query the product subgraph sends fails to connect.
  const prisma = createPrisma(`postgresql://postgres@127.0.0.1:${await freePort()}/flashgraph`, { poolSize: 1 });
  const product = await createProductService({ prisma, logger: subgraphLogs.logger, internalSecret: config.INTERNAL_SECRET });
  productUrl = `http://127.0.0.1:${await product.listen(0, "127.0.0.1")}/graphql`;
  closeProduct = async () => {
    await product.close();
    await prisma.$disconnect();
  };
  router = await startRouter({ ...stack.urls, product: productUrl });
  // Warm the router (first connections, first plans), so a probe's time is the request's and not a cold start's.
  await fetch(new URL("/health", router.url));
  for (const query of [`{ product(id: "${ID}") { name } }`, `{ product(id: "${ID}") { name stock { available } } }`]) await post(router.url, query);
});
afterAll(async () => {
  await router.close();
  await closeProduct();
  await stack.close();
  await agent.close();
});

const ID = randomUUID();
/** What leaks when the failure's text gets through: the driver's words, the port, the library. */
const INTERNALS = ["ECONNREFUSED", "connect", "127.0.0.1", "prisma", "Prisma", "stacktrace", "Error:"];

const post = async (url: string, query: string, requestId?: string) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(requestId ? { "x-request-id": requestId } : {}) },
    body: JSON.stringify({ query }),
  });
  return { status: response.status, requestId: response.headers.get("x-request-id"), text: await response.text() };
};

test.each([
  ["pass-through", `{ product(id: "${ID}") { name } }`, "product"],
  ["gateway", `{ product(id: "${ID}") { name stock { available } } }`, "gateway"],
])("the %s path answers the public shape with the request id, and logs the original under it", async (_path, query, routed) => {
  expect(route({ query }) ? "product" : "gateway").toBe(routed);
  const given = `masking-${randomUUID()}`;
  const { result, slowestMs } = await healthDuring(router.url, async () => [await post(router.url, query, given), await post(router.url, query)]);
  for (const answer of result) {
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({
      data: { product: null },
      errors: [
        {
          message: "Internal server error",
          path: ["product"],
          extensions: { code: "INTERNAL_SERVER_ERROR", serviceName: "product", requestId: answer.requestId },
        },
      ],
    });
    for (const internal of INTERNALS) expect(answer.text).not.toContain(internal);
  }
  expect(result[0]!.requestId).toBe(given);
  expect(result[1]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
  // The subgraph where it failed logged the original, with the id the client was given.
  const logged = subgraphLogs.lines.find((line) => line.requestId === given && line.msg === "unexpected error");
  expect(logged?.err?.message).toBeTruthy();
  expect(logged?.err?.message).not.toBe("Internal server error");
  expect(slowestMs).toBeLessThan(200);
});

test("the subgraph itself, called directly, masks the same way (its fast path and Apollo Server)", async () => {
  const requestId = `masking-${randomUUID()}`;
  const fast = await post(productUrl, `{ product(id: "${ID}") { name } }`, requestId);
  // A GET goes to Apollo Server, never the fast path.
  const viaApollo = await fetch(`${productUrl}?query=${encodeURIComponent(`{ product(id: "${ID}") { name } }`)}`, {
    headers: { "x-request-id": requestId, "apollo-require-preflight": "true" },
  });
  for (const text of [fast.text, await viaApollo.text()]) {
    expect(JSON.parse(text)).toEqual({
      data: { product: null },
      errors: [
        {
          message: "Internal server error",
          locations: [{ line: 1, column: 3 }],
          path: ["product"],
          extensions: { code: "INTERNAL_SERVER_ERROR", requestId },
        },
      ],
    });
    for (const internal of INTERNALS) expect(text).not.toContain(internal);
  }
});

test("expected errors keep their code and message, with no request id", async () => {
  const answer = await post(stack.routerUrl, `{ product(id: "not-a-uuid") { name } }`);
  const body = JSON.parse(answer.text) as { errors: { message: string; extensions: Record<string, unknown> }[] };
  expect(body.errors[0]!.extensions.code).toBe("BAD_USER_INPUT");
  expect(body.errors[0]!.message).not.toBe("Internal server error");
  expect(body.errors[0]!.extensions.requestId).toBeUndefined();
});
