import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { composeSupergraph, SUPERGRAPH_FILE } from "../schema/compose.ts";
import { startStack, type Stack } from "./harness.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const base = () => stack.routerUrl.replace(/\/graphql$/, "");

test("the committed supergraph is what the subgraph SDL files compose to (run `npm run compose`)", () => {
  expect(readFileSync(SUPERGRAPH_FILE, "utf8")).toBe(composeSupergraph());
});

test("/health is live and /ready reports every subgraph", async () => {
  const health = await fetch(`${base()}/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ status: "ok", service: "router" });
  const ready = await fetch(`${base()}/ready`);
  const body = (await ready.json()) as { status: string; dependencies: Record<string, string> };
  expect(ready.status).toBe(200);
  expect(body.status).toBe("ready");
  expect(Object.keys(body.dependencies).sort()).toEqual(Object.keys(stack.urls).sort());
});

test("/ready says not ready when a subgraph does not answer", async () => {
  const { createRouter } = await import("../router/src/server.ts");
  const { config, logger } = await import("./harness.ts");
  const router = await createRouter({
    supergraphSdl: readFileSync(SUPERGRAPH_FILE, "utf8"),
    subgraphUrls: { ...stack.urls, inventory: "http://127.0.0.1:9/graphql" },
    jwtSecret: config.JWT_SECRET,
    internalSecret: config.INTERNAL_SECRET,
    logger,
  });
  const port = await router.listen(0, "127.0.0.1");
  try {
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { dependencies: Record<string, string> };
    expect(body.dependencies.product).toBe("ok");
    expect(body.dependencies.inventory).not.toBe("ok");
  } finally {
    await router.close();
  }
});

test("a browser gets the Apollo Sandbox landing page at /graphql", async () => {
  const page = await fetch(stack.routerUrl, { headers: { accept: "text/html" } });
  expect(page.status).toBe(200);
  expect(await page.text()).toMatch(/sandbox/i);
});

test("GET queries work and CSRF prevention refuses simple cross-site requests", async () => {
  const get = await fetch(`${stack.routerUrl}?query=${encodeURIComponent("{ products(first: 1) { nodes { id } } }")}`, {
    headers: { "apollo-require-preflight": "true" },
  });
  expect(get.status).toBe(200);
  const csrf = await fetch(`${stack.routerUrl}?query=${encodeURIComponent("{ __typename }")}`);
  expect(csrf.status).toBe(400);
});

test("/metrics is Prometheus text with operation counters", async () => {
  await stack.gql(`query CountedOperation { products(first: 1) { nodes { id } } }`);
  const metrics = await (await fetch(`${base()}/metrics`)).text();
  expect(metrics).toMatch(/graphql_operations_total\{.*operation="CountedOperation".*\} \d+/);
  expect(metrics).toMatch(/process_cpu_seconds_total/);
});

test("docker-compose.yml is valid (when the docker client exists)", () => {
  const which = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
  if (which.status !== 0) return; // no docker client on this machine: nothing to check with
  const check = spawnSync("docker", ["compose", "config", "-q"], { encoding: "utf8" });
  expect(check.stderr).toBe("");
  expect(check.status).toBe(0);
});
