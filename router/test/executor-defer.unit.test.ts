import { readFileSync } from "node:fs";
import { SUPERGRAPH_FILE } from "../../schema/compose.ts";
import { createSubscriptionPlanner } from "../src/subscriptions/planner.ts";
import { createProgramCompiler, Fallback, type Program } from "../src/executor/program.ts";
import type { FetchRoute, PlanRun } from "../src/executor/fetch.ts";
import type { CompiledDefer } from "../src/executor/defer-plan.ts";
import { executeIncrementally, serialiseInitial, serialiseSubsequent, type IncrementalItem } from "../src/executor/incremental.ts";
import type { Outcome } from "../src/executor/respond.ts";

// Deferred operations on the committed supergraph, planned by the real query planner, run against subgraphs
// played by a function: which payloads go out, in which order, with which data, paths and errors.

const planner = createSubscriptionPlanner(readFileSync(SUPERGRAPH_FILE, "utf8"));
const routes: Record<string, FetchRoute> = Object.fromEntries(
  ["product", "inventory", "order", "flash-sale"].map((name) => [
    name,
    { serviceName: name, origin: `http://${name}`, path: "/", url: `http://${name}/` },
  ]),
);
const compile = createProgramCompiler({ ...planner, routes });

function programOf(query: string): Program {
  const program = compile(query, undefined);
  if (program instanceof Fallback) throw new Error(`fell back: ${program.reason}`);
  return program;
}

function deferOf(program: Program, variables?: Record<string, unknown>): CompiledDefer {
  const resolved = program.deferred!(variables);
  if (!("defer" in resolved)) throw new Error("not deferred");
  return resolved.defer;
}

type Subgraph = (serviceName: string, body: { query: string; variables: Record<string, any> }) => unknown;

/** Runs a deferred operation; returns the payloads in order and the subgraphs called. */
async function run(query: string, subgraph: Subgraph, options: { variables?: Record<string, unknown>; goneAfterFirst?: boolean } = {}) {
  const calls: string[] = [];
  const payloads: ({ initial: Outcome } | { items: IncrementalItem[] })[] & { hasNext?: boolean[] } = [];
  const hasNext: boolean[] = [];
  let gone = false;
  const planRun: PlanRun = {
    variables: options.variables,
    errors: [],
    call: async (to, text) => {
      calls.push(to.serviceName);
      return { status: 200, text: JSON.stringify(subgraph(to.serviceName, JSON.parse(text))) };
    },
  };
  await executeIncrementally(deferOf(programOf(query), options.variables), planRun, {
    initial(outcome, next) {
      payloads.push({ initial: outcome });
      hasNext.push(next);
      gone = !!options.goneAfterFirst;
    },
    subsequent(items, next) {
      payloads.push({ items });
      hasNext.push(next);
    },
    get closed() {
      return gone;
    },
  });
  return { payloads, hasNext, calls };
}

const productAndStock: Subgraph = (service, body) =>
  service === "product"
    ? { data: { product: { __typename: "Product", name: "Lamp", id: "p1" } } }
    : { data: { _entities: body.variables.representations.map(() => ({ stock: { available: 7 } })) } };

const PRODUCT_WITH_DEFERRED_STOCK = `query { product(id: "p1") { name ... @defer { stock { available } } } }`;

test("the catalogue part goes first, the stock part after, then the stream ends", async () => {
  const { payloads, hasNext, calls } = await run(PRODUCT_WITH_DEFERRED_STOCK, productAndStock);
  expect(payloads).toEqual([
    { initial: { status: 200, data: { product: { name: "Lamp" } } } },
    { items: [{ data: { stock: { available: 7 } }, path: ["product"] }] },
  ]);
  expect(hasNext).toEqual([true, false]);
  expect(calls).toEqual(["product", "inventory"]);
});

test("payloads are serialised as Apollo Router writes them", () => {
  expect(serialiseInitial({ status: 200, data: { product: { name: "Lamp" } } }, true, "r1")).toBe(
    '{"data":{"product":{"name":"Lamp"}},"hasNext":true}',
  );
  expect(serialiseSubsequent([{ label: "stock", data: { stock: { available: 7 } }, path: ["product"] }], false, "r1")).toBe(
    '{"hasNext":false,"incremental":[{"label":"stock","data":{"stock":{"available":7}},"path":["product"]}]}',
  );
  expect(serialiseSubsequent([], false, "r1")).toBe('{"hasNext":false}');
});

test("a subgraph error inside the deferred part stays in its payload, nulls bubbled up inside it, the primary data stands", async () => {
  const { payloads } = await run(PRODUCT_WITH_DEFERRED_STOCK, (service, body) =>
    service === "inventory"
      ? {
          data: { _entities: [null] },
          errors: [{ message: "stock unavailable", path: ["_entities", 0, "stock"], extensions: { code: "NOT_FOUND" } }],
        }
      : productAndStock(service, body),
  );
  expect(payloads[0]).toEqual({ initial: { status: 200, data: { product: { name: "Lamp" } } } });
  const [item] = (payloads[1] as { items: IncrementalItem[] }).items;
  expect(item!.data).toBeNull(); // stock is Stock!: its null takes the part's object
  expect(item!.path).toEqual(["product"]);
  expect(serialiseSubsequent([item!], false, "r1")).toBe(
    '{"hasNext":false,"incremental":[{"data":null,"path":["product"],"errors":[{"message":"stock unavailable","path":["product","stock"],"extensions":{"code":"NOT_FOUND","serviceName":"inventory"}}]}]}',
  );
});

test("a part under a list has one item per element, labelled", async () => {
  const { payloads } = await run(`{ products(first: 2) { nodes { id ... @defer(label: "stock") { stock { available } } } } }`, (service, body) =>
    service === "product"
      ? {
          data: {
            products: {
              nodes: [
                { __typename: "Product", id: "p1" },
                { __typename: "Product", id: "p2" },
              ],
            },
          },
        }
      : { data: { _entities: body.variables.representations.map((r: { id: string }) => ({ stock: { available: r.id === "p1" ? 1 : 2 } })) } },
  );
  expect(payloads).toEqual([
    { initial: { status: 200, data: { products: { nodes: [{ id: "p1" }, { id: "p2" }] } } } },
    {
      items: [
        { label: "stock", data: { stock: { available: 1 } }, path: ["products", "nodes", 0] },
        { label: "stock", data: { stock: { available: 2 } }, path: ["products", "nodes", 1] },
      ],
    },
  ]);
});

test("a @defer inside a @defer: the inner part after the outer one, hasNext until the last", async () => {
  const { payloads, hasNext } = await run(
    `query { product(id: "p1") { name ... @defer(label: "outer") { stock { available ... @defer(label: "inner") { sold } } } } }`,
    (service, body) =>
      service === "product"
        ? productAndStock(service, body)
        : { data: { _entities: body.variables.representations.map(() => ({ stock: { available: 7, sold: 3 } })) } },
  );
  expect(payloads.slice(1)).toEqual([
    { items: [{ label: "outer", data: { stock: { available: 7 } }, path: ["product"] }] },
    { items: [{ label: "inner", data: { sold: 3 }, path: ["product", "stock"] }] },
  ]);
  expect(hasNext).toEqual([true, true, false]);
});

test("a part whose object is null is not sent; the stream still ends", async () => {
  const { payloads, hasNext, calls } = await run(PRODUCT_WITH_DEFERRED_STOCK, () => ({ data: { product: null } }));
  expect(payloads).toEqual([{ initial: { status: 200, data: { product: null } } }, { items: [] }]);
  expect(hasNext).toEqual([true, false]);
  expect(calls).toEqual(["product"]);
});

test("a client gone after the first payload: the deferred part's fetches are not sent", async () => {
  const { payloads, calls } = await run(PRODUCT_WITH_DEFERRED_STOCK, productAndStock, { goneAfterFirst: true });
  expect(payloads).toHaveLength(1);
  expect(calls).toEqual(["product"]);
});

test("@defer(if: false) runs the plan without the Defer node; @defer(if: true) defers", () => {
  const program = programOf(`query($d: Boolean!) { product(id: "p1") { name ... @defer(if: $d) { stock { available } } } }`);
  expect("plan" in program.deferred!({ d: false })).toBe(true);
  expect("defer" in program.deferred!({ d: true })).toBe(true);
});

test("operations without @defer keep the gateway's planner and no deferred plan", () => {
  expect(programOf(`{ product(id: "p1") { name stock { available } } }`).deferred).toBeUndefined();
});
