import { readFileSync } from "node:fs";
import fc from "fast-check";
import { buildASTSchema, getNamedType, isListType, isNonNullType, isObjectType, parse, type GraphQLField, type GraphQLObjectType } from "graphql";
import { SUPERGRAPH_FILE } from "../schema/compose.ts";
import { parseWithinLimits } from "../common/operation-limits.ts";
import { defaultOperationLimits } from "../common/operation-limits-config.ts";
import { adminToken, startRouter, startStack, type Stack } from "./harness.ts";
import { createProduct } from "./orders.ts";

// Documents generated from the real API schema that stay under the limits are never refused: the router with
// its limits answers each exactly as a router with no limits does (same status, same body).

const schema = buildASTSchema(parse(readFileSync(SUPERGRAPH_FILE, "utf8")), { assumeValidSDL: true });
const limits = defaultOperationLimits();
/** Root fields an anonymous caller may read (the others answer UNAUTHENTICATED, which is no test of the limits). */
const ROOTS = ["product", "products", "searchProducts", "flashSale", "flashSales", "stock"];

let stack: Stack;
let unlimited: Awaited<ReturnType<typeof startRouter>>;
let ids: string[] = [];
beforeAll(async () => {
  stack = await startStack();
  unlimited = await startRouter(stack.urls, { operationLimits: null });
  const admin = await adminToken();
  for (const name of ["Property one", "Property two"]) ids.push((await createProduct(stack.gql, admin, 3, { name })).id);
  ids = [...ids, "no-such-id"];
});
afterAll(async () => {
  await unlimited.close();
  await stack.close();
});

/** A literal for an argument of the API: ids of real products (and one missing), small pages, search text. */
function argument(name: string, typeName: string): fc.Arbitrary<string> {
  if (name === "first") return fc.integer({ min: 1, max: 5 }).map(String);
  if (typeName === "ID") return fc.constantFrom(...ids).map((id) => JSON.stringify(id));
  if (name === "query") return fc.string({ maxLength: 8 }).map((text) => JSON.stringify(text));
  if (typeName === "FlashSaleState") return fc.constantFrom("SCHEDULED", "ACTIVE", "ENDED");
  return fc.constant("null");
}

/** One field of `type` with its selection (empty for leaves), nesting at most `depth` more levels. */
function field(type: GraphQLObjectType, depth: number): fc.Arbitrary<string> {
  const candidates = Object.values(type.getFields()).filter((f) => depth > 0 || !isObjectType(getNamedType(f.type)));
  return fc.constantFrom(...candidates).chain((f) => fieldWith(f, depth));
}

function fieldWith(f: GraphQLField<unknown, unknown>, depth: number): fc.Arbitrary<string> {
  const required = f.args.filter((a) => isNonNullType(a.type) || a.name === "first");
  const args = fc.tuple(...required.map((a) => argument(a.name, getNamedType(a.type).name).map((v) => `${a.name}: ${v}`)));
  const named = getNamedType(f.type);
  const selection = isObjectType(named) ? selectionOf(named, depth - 1).map((s) => ` { ${s} }`) : fc.constant("");
  const alias = fc.option(fc.constantFrom("a", "b", "c"), { freq: 4 }).map((a) => (a ? `${a}_${f.name}: ` : ""));
  const directive = fc.constantFrom("", "", "", " @include(if: true)", " @skip(if: false)");
  return fc.tuple(alias, args, directive, selection).map(([a, list, d, s]) => `${a}${f.name}${list.length ? `(${list.join(", ")})` : ""}${d}${s}`);
}

function selectionOf(type: GraphQLObjectType, depth: number): fc.Arbitrary<string> {
  const fields = fc.array(field(type, depth), { minLength: 1, maxLength: 4 });
  return fc.tuple(fields, fc.boolean()).map(([list, typename]) => [...(typename ? ["__typename"] : []), ...list].join(" "));
}

const query = schema.getQueryType()!;
const roots = ROOTS.map((name) => query.getFields()[name]!);
const documents = fc
  .array(
    fc.constantFrom(...roots).chain((f) => fieldWith(f, 5)),
    { minLength: 1, maxLength: 3 },
  )
  .map((fields) => `{ ${fields.join(" ")} }`)
  .filter((document) => {
    try {
      parseWithinLimits(document, limits);
      return true;
    } catch {
      return false;
    }
  });

const post = async (url: string, document: string) => {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: document }) });
  return { status: response.status, body: (await response.json()) as unknown };
};

test("documents under the limits answer as they do with no limits", async () => {
  expect(isListType(roots[1]!.type)).toBe(false); // products is a connection
  await fc.assert(
    fc.asyncProperty(documents, async (document) => {
      const limited = await post(stack.routerUrl, document);
      expect(JSON.stringify(limited.body)).not.toContain("OPERATION_LIMIT_EXCEEDED");
      expect(limited).toEqual(await post(unlimited.url, document));
    }),
    { numRuns: 40 },
  );
});
