import { getIntrospectionQuery, GraphQLError, parse } from "graphql";
import { checkVariables, createOperationGuard, parseWithinLimits, type OperationLimits } from "../operation-limits.ts";
import { defaultOperationLimits, subgraphLimitsFrom, supergraphCostModel } from "../operation-limits-config.ts";
import { DEFAULT_LIST_SIZE, ENTITY_JOIN_COST, measureOperation } from "../operation-measure.ts";

const limits = defaultOperationLimits();
const measure = (source: string, variables?: Record<string, unknown>) => measureOperation(parse(source), supergraphCostModel(), variables);

/** The error `run` throws, as a client reads its extensions. */
function thrown(run: () => unknown): { message: string; extensions: Record<string, unknown> } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof GraphQLError)) throw error;
    const { http: _status, ...extensions } = error.extensions;
    return { message: error.message, extensions };
  }
  throw new Error("did not throw");
}

describe("the cost estimate", () => {
  test("a slicing argument multiplies what is under it, a connection's nodes once", () => {
    expect(measure("{ products(first: 100) { nodes { id name } } }").cost).toBe(1 + 100 * 3);
    expect(measure("{ products { nodes { id } } }").cost).toBe(1 + 20 * 2); // the schema's default first: 20
    expect(measure("query($n: Int) { products(first: $n) { nodes { id } } }", { n: 7 })).toMatchObject({ cost: 1 + 7 * 2, costUsesVariables: true });
  });

  test("a field another subgraph resolves (from the supergraph's join directives) costs the join", () => {
    expect(measure('{ product(id: "1") { name stock { available } } }').cost).toBe(1 + 1 + (1 + ENTITY_JOIN_COST) + 1);
    // Order.items is the order subgraph's, OrderItem.product too; Product.name is the product subgraph's.
    expect(measure('{ order(id: "1") { items { quantity product { id name } } } }').cost).toBe(
      1 + 1 + DEFAULT_LIST_SIZE * (1 + 1 + 1 + (1 + ENTITY_JOIN_COST)),
    );
  });

  test("introspection: depth not counted, lists not multiplied", () => {
    const introspection = measure(getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, inputValueDeprecation: true }));
    expect(introspection.depth).toBe(1);
    expect(introspection.cost).toBe(introspection.fields);
    expect(introspection.fields).toBeLessThanOrEqual(limits.maxFields);
  });
});

describe("fragments are counted as expanded without expanding them", () => {
  test("a fragment bomb: 2^40 fields counted in linear time", () => {
    const bomb = [
      "{ products { nodes { ...F40 } } }",
      "fragment F0 on Product { name }",
      ...Array.from({ length: 40 }, (_, i) => `fragment F${i + 1} on Product { ...F${i} ...F${i} }`),
    ].join("\n");
    expect(measure(bomb).fields).toBe(2 ** 40 + 2);
    expect(thrown(() => parseWithinLimits(bomb, limits)).extensions).toEqual({
      code: "OPERATION_LIMIT_EXCEEDED",
      kind: "fields",
      limit: 250,
      value: 2 ** 40 + 2,
    });
  });

  test("a fragment cycle ends (validation refuses it later)", () => {
    expect(measure("{ products { nodes { ...A } } } fragment A on Product { id ...B } fragment B on Product { name ...A }").fields).toBe(4);
  });

  test("depth and aliases through spreads and inline fragments", () => {
    const m = measure("{ products { nodes { ...P } } } fragment P on Product { a: id ... on Product { b: name stock { available } } }");
    expect(m).toMatchObject({ depth: 4, aliases: 2, rootFields: 1, fields: 6 });
  });
});

describe("parseWithinLimits", () => {
  test("tokens: refused after maxTokens tokens however long the document", () => {
    expect(thrown(() => parseWithinLimits(`{ ${"__typename ".repeat(20_000)}}`, limits)).extensions).toEqual({
      code: "OPERATION_LIMIT_EXCEEDED",
      kind: "tokens",
      limit: 1_000,
      value: 1_001,
    });
  });

  test("a syntax error stays the usual one", () => {
    expect(thrown(() => parseWithinLimits("{ products {", limits)).message).toMatch(/^Syntax Error/);
  });

  test("NUL in a string literal, also inside an input object: BAD_USER_INPUT naming it", () => {
    expect(thrown(() => parseWithinLimits('{ searchProducts(query: "a\\u0000b") { id } }', limits)).extensions).toEqual({
      code: "BAD_USER_INPUT",
      field: "query",
    });
    const input = 'mutation { createProduct(input: { sku: "s", name: "\\u0000" }) { id } }';
    expect(thrown(() => parseWithinLimits(input, limits)).extensions).toEqual({ code: "BAD_USER_INPUT", field: "input.name" });
  });

  test("every limit can be off", () => {
    const off: OperationLimits = { ...limits, maxTokens: Infinity, maxRootFields: Infinity, maxFields: Infinity, maxCost: Infinity };
    expect(() => parseWithinLimits(`{ ${"__typename ".repeat(2_000)}}`, off)).not.toThrow();
  });
});

test("checkVariables: size, NUL and lone surrogates, named by path", () => {
  expect(thrown(() => checkVariables({ i: { items: [{ sku: "\ud800" }] } }, limits)).extensions).toEqual({
    code: "BAD_USER_INPUT",
    field: "i.items.0.sku",
  });
  expect(thrown(() => checkVariables({ q: "x".repeat(70_000) }, limits)).extensions).toMatchObject({ kind: "variablesSize", limit: 65_536 });
  expect(() => checkVariables({ q: "emoji \ud83d\ude00 fine" }, limits)).not.toThrow();
  expect(() => checkVariables({ q: "x".repeat(70_000) }, subgraphLimitsFrom(limits))).not.toThrow();
});

test("the guard remembers a checked document and measures a variable cost again", () => {
  const guard = createOperationGuard(limits);
  const query = "query($n: Int) { products(first: $n) { nodes { id } } }";
  const document = guard({ query, variables: { n: 10 } });
  expect(guard({ query, variables: { n: 20 } })).toBe(document);
  expect(guard.documentOf(query)).toBe(document);
  expect(thrown(() => guard({ query, variables: { n: 5_000 } })).extensions).toMatchObject({ kind: "cost", value: 10_001 });
});
