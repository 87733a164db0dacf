import { randomUUID } from "node:crypto";
import http from "node:http";
import { readBody } from "../common/http/graphql.ts";
import { freePort } from "../common/ports.ts";
import { config, logger, startRouter, startStack, type Stack } from "./harness.ts";
import { passthroughFor } from "./passthrough-for.ts";
import { Agent } from "undici";
import { Histogram } from "prom-client";
import { createSubgraphSender } from "../router/src/subgraph-batch.ts";
import { createProductService } from "../subgraphs/product/src/server.ts";
import type { PrismaClient } from "../common/prisma.ts";

// What a client sees when something fails behind the router, on the pass-through (router/src/passthrough.ts)
// and on the gateway: unexpected errors masked, a subgraph that does not answer named. The pass-through's
// equality with the gateway: passthrough.e2e.test.ts.

/** A router of just the pass-through: what `intercept` leaves is answered 500; a throw fails the request. */
const routeWith = (intercept: ReturnType<typeof passthroughFor>["intercept"]) => (req: http.IncomingMessage, res: http.ServerResponse) => {
  const answer = async () => {
    if (!(await intercept(req, res, await readBody(req)))) res.writeHead(500).end("not routed");
  };
  answer().catch((error: Error) => res.destroy(error));
};

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.close();
});

describe("an unexpected error reaches a client as `Internal server error` on both router paths", () => {
  // The equality tests (passthrough.e2e.test.ts) cannot see a leak both paths share: this holds each to the
  // public contract (API.md): the message and code below, the request id of the response's `x-request-id`, and
  // nothing of the original error anywhere in the body.
  const agent = new Agent();
  const { route } = passthroughFor({ product: "http://p", inventory: "http://i", order: "http://o", "flash-sale": "http://f" }, agent, 1_000);
  // A product subgraph whose database reads throw a plain Error, behind its own router.
  let broken: Awaited<ReturnType<typeof createProductService>>;
  let brokenRouter: Awaited<ReturnType<typeof startRouter>>;
  beforeAll(async () => {
    const failing = { findMany: async () => Promise.reject(new Error("some internal detail")) };
    const prisma = new Proxy(stack.prisma, { get: (target, name) => (name === "product" ? failing : Reflect.get(target, name)) }) as PrismaClient;
    broken = await createProductService({ prisma, logger, internalSecret: config.INTERNAL_SECRET });
    const url = `http://127.0.0.1:${await broken.listen(0, "127.0.0.1")}/graphql`;
    brokenRouter = await startRouter({ ...stack.urls, product: url });
  });
  afterAll(async () => {
    await brokenRouter.close();
    await broken.close();
    await agent.close();
  });

  const masked = (field: string) => ({
    message: "Internal server error",
    path: [field],
    extensions: { code: "INTERNAL_SERVER_ERROR", serviceName: "product", requestId: expect.any(String) },
  });
  const expectMasked = async (url: string, query: string, body: { data: unknown; errors: unknown[] }, internals: string[]) => {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
    const text = await response.text();
    const requestId = response.headers.get("x-request-id");
    expect({ status: response.status, body: JSON.parse(text) }).toEqual({ status: 200, body });
    expect((JSON.parse(text) as typeof body).errors.map((e) => (e as { extensions: { requestId: string } }).extensions.requestId)).toEqual(
      body.errors.map(() => requestId),
    );
    for (const internal of internals) expect(text).not.toContain(internal);
  };
  const id = randomUUID();

  test.each([
    ["pass-through", `{ product(id: "${id}") { name } }`, "product"],
    ["gateway", `{ product(id: "${id}") { name stock { available } } }`, "gateway"],
  ])("a plain Error in a resolver, %s path", async (_path, query, routed) => {
    expect(route({ query }) ? "product" : "gateway").toBe(routed);
    await expectMasked(brokenRouter.url, query, { data: { product: null }, errors: [masked("product")] }, [
      "some internal detail",
      "Error:",
      "stacktrace",
    ]);
  });

  // A database that cannot be reached (a real failing dependency, on both paths): masking.e2e.test.ts. The NUL
  // byte PostgreSQL refuses no longer reaches it: the operation limits answer it as BAD_USER_INPUT.

  test("the pass-through masks what a subgraph lets through, as the gateway does", async () => {
    // A subgraph served by another GraphQL server, which sends its internal error text as it is.
    const leaky = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          data: { product: null },
          errors: [
            {
              message: "some internal detail",
              locations: [{ line: 1, column: 3 }],
              path: ["product"],
              extensions: { code: "INTERNAL_SERVER_ERROR", stacktrace: ["Error: some internal detail"] },
            },
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => leaky.listen(0, "127.0.0.1", resolve));
    const { intercept } = passthroughFor(
      {
        product: `http://127.0.0.1:${(leaky.address() as { port: number }).port}/graphql`,
        inventory: "http://i",
        order: "http://o",
        "flash-sale": "http://f",
      },
      agent,
      1_000,
    );
    const router = http.createServer(routeWith(intercept));
    await new Promise<void>((resolve) => router.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(router.address() as { port: number }).port}/graphql`;
      await expectMasked(url, `{ product(id: "${id}") { name } }`, { data: { product: null }, errors: [masked("product")] }, [
        "some internal detail",
        "stacktrace",
      ]);
    } finally {
      await new Promise((resolve) => router.close(resolve));
      await new Promise((resolve) => leaky.close(resolve));
    }
  });
});

describe("a subgraph that does not answer", () => {
  // A subgraph that accepts connections and never answers, and an address nobody listens on: the router answers
  // INTERNAL_SERVER_ERROR naming the subgraph once its timeout (here 300 ms) passes, or at once.
  const silent = http.createServer(() => undefined);
  const agent = new Agent();
  let router: http.Server;
  let urls: Record<string, string>;
  beforeAll(async () => {
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    urls = {
      product: `http://127.0.0.1:${await freePort()}/graphql`,
      inventory: "http://i",
      order: "http://o",
      "flash-sale": `http://127.0.0.1:${(silent.address() as { port: number }).port}/graphql`,
    };
    const { intercept } = passthroughFor(urls, agent, 300);
    router = http.createServer(routeWith(intercept));
    await new Promise<void>((resolve) => router.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
    await new Promise((resolve) => router.close(resolve));
    await agent.close();
  });
  const ask = async (query: string, variables?: unknown) => {
    const response = await fetch(`http://127.0.0.1:${(router.address() as { port: number }).port}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "req-silent" },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, requestId: response.headers.get("x-request-id"), body: (await response.json()) as unknown };
  };

  test.each([
    [
      "a silent subgraph (timeout)",
      "flash-sale",
      `mutation($i: FlashPurchaseInput!) { flashPurchase(input: $i) { id } }`,
      { i: { flashSaleId: randomUUID(), productId: randomUUID(), quantity: 1, idempotencyKey: "k" } },
    ],
    ["an unreachable subgraph", "product", `{ product(id: "1") { id name } }`, undefined],
  ])("%s: INTERNAL_SERVER_ERROR naming it", async (_name, serviceName, query, variables) => {
    expect(await ask(query, variables)).toEqual({
      status: 200,
      requestId: "req-silent",
      body: {
        data: null,
        errors: [{ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR", serviceName, requestId: "req-silent" } }],
      },
    });
  });

  test("a batch the subgraph does not answer fails each of its operations", async () => {
    const { origin, pathname } = new URL(urls["flash-sale"]!);
    const sizes = new Histogram({ name: "test_batch_size", help: "-", labelNames: ["subgraph"], registers: [] });
    const sent = createSubgraphSender({ dispatcher: agent, timeoutMs: 300, batches: () => true, batchSize: sizes });
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () =>
        sent({ serviceName: "flash-sale", origin, path: pathname }, { "content-type": "application/json" }, `{"query":"{ __typename }"}`),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(5).fill("rejected"));
    const values = (await sizes.get()).values;
    expect([
      values.find((v) => v.metricName === "test_batch_size_count")!.value,
      values.find((v) => v.metricName === "test_batch_size_sum")!.value,
    ]).toEqual([1, 5]);
  });
});
