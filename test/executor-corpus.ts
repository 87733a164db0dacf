// The operations test/executor-equivalence.e2e.test.ts sends to a router on @apollo/gateway and to one on the
// router's own plan executor: every operation the tests, docs, benches and storefront send the router (queries
// and mutations; subscriptions have their own executor), then operations generated over the API schema
// (every field of every root field, aliased, through fragments, under @skip/@include), then errors, nulls and
// requests the executor leaves to the gateway.

import { getNamedType, isCompositeType, isNonNullType, isObjectType, type GraphQLObjectType, type GraphQLSchema } from "graphql";
import { ORDER_FIELDS } from "./orders.ts";

export interface Fixtures {
  /** Two products with stock; `b` is also in the sale. */
  productA: { id: string; priceCents: number; priceVersion: number; name: string };
  productB: { id: string; priceCents: number; priceVersion: number };
  /** A RESERVED order of `user` (productA x1, productB x2) and the idempotency key that placed it. */
  order: { id: string; key: string };
  /** An order of `user` it cancelled. */
  cancelledOrderId: string;
  /** An active sale of productB, an ended one, and `user`'s purchase in the active one with its key. */
  saleId: string;
  endedSaleId: string;
  flash: { id: string; key: string };
  /** A word only productA's name holds (searchProducts). */
  searchWord: string;
}

export type Caller = "anonymous" | "user" | "other" | "admin";

export interface Case {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  as?: Caller;
  /** Request headers besides content-type and authorization (e.g. `accept`). */
  headers?: Record<string, string>;
  /**
   * Whether the executor answers it (default) or leaves it to the gateway ("fallback", counted); "multipart":
   * neither, another path answers both routers the same way (a subscription, an operation over the limits).
   */
  path?: "executor" | "fallback" | "multipart";
}

const SALE_FIELDS = `id name startsAt endsAt state perUserLimit items { product { id } salePriceCents quantity remaining }`;
const PRODUCT_FIELDS = "id sku name description priceCents currency priceVersion active createdAt";

/** The storefront's operations as Apollo Client sends them (web/src: `__typename` everywhere, fragments). */
const STOREFRONT_ORDER_FRAGMENT = `fragment OrderFields on Order {\n  id\n  status\n  totalCents\n  currency\n  reservedUntil\n  cancelReason\n  flashSaleId\n  createdAt\n  items {\n    quantity\n    unitPriceCents\n    product {\n      id\n      name\n      __typename\n    }\n    __typename\n  }\n  __typename\n}`;
const STOREFRONT_CATALOGUE_FRAGMENT = `fragment CatalogueProduct on Product {\n  id\n  name\n  priceCents\n  currency\n  stock {\n    productId\n    available\n    __typename\n  }\n  __typename\n}`;
const STOREFRONT_SALE_FRAGMENT = `fragment FlashSaleFields on FlashSale {\n  id\n  name\n  startsAt\n  endsAt\n  state\n  perUserLimit\n  items {\n    salePriceCents\n    quantity\n    remaining\n    product {\n      id\n      name\n      priceCents\n      currency\n      __typename\n    }\n    __typename\n  }\n  __typename\n}`;

function storefront(f: Fixtures): Case[] {
  return [
    {
      name: "storefront Catalogue",
      query: `query Catalogue($first: Int!, $after: String) {\n  products(first: $first, after: $after) {\n    nodes {\n      ...CatalogueProduct\n      __typename\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n      __typename\n    }\n    __typename\n  }\n}\n\n${STOREFRONT_CATALOGUE_FRAGMENT}`,
      variables: { first: 12 },
      operationName: "Catalogue",
      headers: { accept: "application/graphql-response+json,application/json;q=0.9" },
    },
    {
      name: "storefront Search",
      query: `query Search($query: String!, $first: Int!) {\n  searchProducts(query: $query, first: $first) {\n    ...CatalogueProduct\n    __typename\n  }\n}\n\n${STOREFRONT_CATALOGUE_FRAGMENT}`,
      variables: { query: f.searchWord, first: 20 },
      operationName: "Search",
    },
    {
      name: "storefront ProductPage",
      query: `query ProductPage($id: ID!) {\n  product(id: $id) {\n    id\n    name\n    description\n    priceCents\n    currency\n    priceVersion\n    stock {\n      productId\n      available\n      __typename\n    }\n    __typename\n  }\n}`,
      variables: { id: f.productA.id },
      operationName: "ProductPage",
    },
    {
      name: "storefront FlashSalePage",
      query: `query FlashSalePage($id: ID!) {\n  flashSale(id: $id) {\n    ...FlashSaleFields\n    __typename\n  }\n}\n\n${STOREFRONT_SALE_FRAGMENT}`,
      variables: { id: f.saleId },
      operationName: "FlashSalePage",
    },
    {
      name: "storefront MyOrders",
      query: `query MyOrders($first: Int!) {\n  myOrders(first: $first) {\n    nodes {\n      ...OrderFields\n      __typename\n    }\n    __typename\n  }\n}\n\n${STOREFRONT_ORDER_FRAGMENT}`,
      variables: { first: 20 },
      operationName: "MyOrders",
      as: "user",
    },
    {
      name: "storefront OrderView",
      query: `query OrderView($id: ID!) {\n  order(id: $id) {\n    ...OrderFields\n    __typename\n  }\n}\n\n${STOREFRONT_ORDER_FRAGMENT}`,
      variables: { id: f.order.id },
      operationName: "OrderView",
      as: "user",
    },
    {
      name: "storefront PlaceOrder (same idempotency key: the same order)",
      query: `mutation PlaceOrder($input: PlaceOrderInput!) {\n  placeOrder(input: $input) {\n    ...OrderFields\n    __typename\n  }\n}\n\n${STOREFRONT_ORDER_FRAGMENT}`,
      variables: { input: { idempotencyKey: f.order.key, items: orderLines(f) } },
      operationName: "PlaceOrder",
      as: "user",
    },
    {
      name: "storefront FlashPurchase (same idempotency key)",
      query: `mutation FlashPurchase($input: FlashPurchaseInput!) {\n  flashPurchase(input: $input) {\n    ...OrderFields\n    __typename\n  }\n}\n\n${STOREFRONT_ORDER_FRAGMENT}`,
      variables: { input: { flashSaleId: f.saleId, productId: f.productB.id, quantity: 1, idempotencyKey: f.flash.key } },
      operationName: "FlashPurchase",
      as: "user",
    },
    {
      name: "storefront CancelOrder of a cancelled order (INVALID_STATE)",
      query: `mutation CancelOrder($id: ID!) {\n  cancelOrder(id: $id) {\n    ...OrderFields\n    __typename\n  }\n}\n\n${STOREFRONT_ORDER_FRAGMENT}`,
      variables: { id: f.cancelledOrderId },
      operationName: "CancelOrder",
      as: "user",
    },
    {
      name: "storefront PayOrder of a cancelled order (INVALID_STATE)",
      query: `mutation PayOrder($id: ID!, $paymentToken: String!) {\n  payOrder(id: $id, paymentToken: $paymentToken) {\n    ...OrderFields\n    __typename\n  }\n}\n\n${STOREFRONT_ORDER_FRAGMENT}`,
      variables: { id: f.cancelledOrderId, paymentToken: "tok_visa" },
      operationName: "PayOrder",
      as: "user",
    },
  ];
}

const orderLines = (f: Fixtures) => [
  { productId: f.productA.id, quantity: 1, expectedPriceCents: f.productA.priceCents, priceVersion: f.productA.priceVersion },
  { productId: f.productB.id, quantity: 2, expectedPriceCents: f.productB.priceCents, priceVersion: f.productB.priceVersion },
];

/** Operations of the tests, docs (README, API.md) and benches, with this run's ids. */
function collected(f: Fixtures): Case[] {
  const a = f.productA.id;
  return [
    { name: "README products with stock", query: "{ products(first: 3) { nodes { id name priceCents stock { available reserved sold } } } }" },
    { name: "bench:read products(first:20)+stock", query: "{ products(first: 20) { nodes { name priceCents stock { available } } } }" },
    {
      name: "bench:read product(id)+stock",
      query: "query($id: ID!) { product(id: $id) { name priceCents stock { available } } }",
      variables: { id: a },
    },
    { name: "bench:read product(id)", query: "query($id: ID!) { product(id: $id) { name priceCents } }", variables: { id: a } },
    {
      name: "catalogue page of 100 with every field",
      query:
        "{ products(first: 100) { nodes { id sku name description priceCents currency priceVersion stock { available reserved sold } } pageInfo { hasNextPage endCursor } } }",
    },
    { name: "products nodes id", query: "{ products(first: 1) { nodes { id } } }" },
    { name: "products with __typename", query: "{ products(first: 1) { nodes { id __typename } } }" },
    { name: "named query", query: "query CountedOperation { products(first: 1) { nodes { id } } }" },
    {
      name: "products pages",
      query:
        "query($after: String) { products(first: 7, after: $after) { edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor } } }",
    },
    {
      name: "product with stock counters",
      query: "query($id: ID!) { product(id: $id) { id sku priceCents stock { productId available reserved sold } } }",
      variables: { id: a },
    },
    { name: "product stock only", query: "query($id: ID!) { product(id: $id) { stock { available reserved sold } } }", variables: { id: a } },
    { name: "product price", query: "query($id: ID!) { product(id: $id) { priceCents priceVersion } }", variables: { id: a } },
    { name: "product fields", query: `query($id: ID!) { product(id: $id) { ${PRODUCT_FIELDS} } }`, variables: { id: a } },
    {
      name: "search",
      query: "query($q: String!, $first: Int) { searchProducts(query: $q, first: $first) { id name priceCents } }",
      variables: { q: f.searchWord, first: 5 },
    },
    { name: "search ids", query: "query($q: String!) { searchProducts(query: $q) { id } }", variables: { q: f.searchWord } },
    {
      name: "order with product names",
      query: "query($id: ID!) { order(id: $id) { id status items { product { name } } } }",
      variables: { id: f.order.id },
      as: "user",
    },
    { name: "order fields", query: `query Order($id: ID!) { order(id: $id) { ${ORDER_FIELDS} } }`, variables: { id: f.order.id }, as: "user" },
    {
      name: "order payment",
      query: "query Order($id: ID!) { order(id: $id) { id status payment { id status amountCents currency refundedAt } } }",
      variables: { id: f.order.id },
      as: "user",
    },
    { name: "myOrders", query: "{ myOrders { nodes { id status flashSaleId } } }", as: "user" },
    {
      name: "myOrders pages",
      query:
        "query($after: String) { myOrders(first: 2, after: $after) { nodes { id } edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }",
      as: "user",
    },
    {
      name: "issue 21's 3-subgraph query",
      query: "{ myOrders { nodes { items { product { name stock { available } } } } } }",
      as: "user",
    },
    { name: "flash sale", query: `query($id: ID!) { flashSale(id: $id) { ${SALE_FIELDS} } }`, variables: { id: f.saleId } },
    { name: "flash sale remaining", query: "query($id: ID!) { flashSale(id: $id) { items { remaining } } }", variables: { id: f.saleId } },
    { name: "stock of a product", query: "query($id: ID!) { stock(productId: $id) { productId available reserved sold } }", variables: { id: a } },
    {
      name: "several operations, one chosen",
      query: "query One($id: ID!) { product(id: $id) { id name stock { available } } } query Two { __typename }",
      variables: { id: a },
      operationName: "One",
    },
    {
      name: "placeOrder again with its key, with stock",
      query: "mutation P($i: PlaceOrderInput!) { placeOrder(input: $i) { id status items { quantity product { name stock { available } } } } }",
      variables: { i: { idempotencyKey: f.order.key, items: orderLines(f) } },
      as: "user",
    },
    {
      name: "flashPurchase again with its key (@provides), with the product",
      query:
        "mutation($i: FlashPurchaseInput!) { flashPurchase(input: $i) { id status totalCents items { quantity product { id name stock { available } } } } }",
      variables: { i: { flashSaleId: f.saleId, productId: f.productB.id, quantity: 1, idempotencyKey: f.flash.key } },
      as: "user",
    },
    {
      name: "updateProductPrice to its price (no change)",
      query: "mutation($id: ID!, $p: Int!) { updateProductPrice(id: $id, priceCents: $p) { id priceCents priceVersion stock { available } } }",
      variables: { id: a, p: f.productA.priceCents },
      as: "admin",
    },
    {
      name: "endFlashSale of an ended sale",
      query: `mutation($id: ID!) { endFlashSale(id: $id) { ${SALE_FIELDS} } }`,
      variables: { id: f.endedSaleId },
      as: "admin",
    },
    {
      name: "createProduct as a user (FORBIDDEN)",
      query: "mutation($input: CreateProductInput!) { createProduct(input: $input) { id stock { available } } }",
      variables: { input: { sku: "NOPE-1", name: "n", description: "", priceCents: 1, currency: "USD" } },
      as: "user",
    },
    {
      name: "restock anonymously (UNAUTHENTICATED)",
      query: "mutation($id: ID!, $q: Int!) { restock(productId: $id, quantity: $q) { available } }",
      variables: { id: a, q: 1 },
    },
    {
      name: "restock of 0 (BAD_USER_INPUT)",
      query: "mutation($id: ID!, $q: Int!) { restock(productId: $id, quantity: $q) { available } }",
      variables: { id: a, q: 0 },
      as: "admin",
    },
    {
      name: "placeOrder of nothing (BAD_USER_INPUT)",
      query: "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }",
      variables: { input: { idempotencyKey: "k-empty", items: [] } },
      as: "user",
    },
    {
      name: "cancelOrder of someone else's order (FORBIDDEN)",
      query: "mutation($id: ID!) { cancelOrder(id: $id) { id status } }",
      variables: { id: f.order.id },
      as: "other",
    },
  ];
}

/** Nulls, errors and their paths, partial answers. */
function errorsAndNulls(f: Fixtures): Case[] {
  const a = f.productA.id;
  return [
    { name: "unknown product is null", query: `{ product(id: "0") { name stock { available } } }` },
    { name: "unknown order is null", query: `{ order(id: "00000000-0000-0000-0000-000000000000") { id items { product { name } } } }`, as: "user" },
    {
      name: "someone else's order (FORBIDDEN, data.order null)",
      query: "query($id: ID!) { order(id: $id) { id items { product { name stock { available } } } } }",
      variables: { id: f.order.id },
      as: "other",
    },
    { name: "an order anonymously", query: "query($id: ID!) { order(id: $id) { id status } }", variables: { id: f.order.id } },
    { name: "myOrders anonymously (non-null root: data null)", query: "{ myOrders { nodes { id items { product { name } } } } }" },
    { name: "products(first: 101) (BAD_USER_INPUT)", query: "{ products(first: 101) { nodes { id stock { available } } } }" },
    {
      name: "one root field fails, the others answer",
      query: `query($id: ID!, $o: ID!) { a: product(id: $id) { name stock { available } } b: order(id: $o) { id status } c: flashSale(id: "0") { id } d: stock(productId: $id) { available } }`,
      variables: { id: a, o: f.order.id },
      as: "other",
    },
    {
      name: "two failing root fields and a non-null one",
      query: `query($o: ID!) { order(id: $o) { id } myOrders { nodes { id } } products(first: 1) { nodes { id } } }`,
      variables: { o: f.order.id },
    },
    { name: "only __typename (no fetch)", query: "{ __typename }" },
    { name: "aliased root __typename", query: "{ t: __typename u: __typename products(first: 1) { nodes { __typename t: __typename } } }" },
    { name: "mutation __typename", query: "mutation { __typename }", as: "admin" },
    { name: "variable default used by a fetch", query: "query($n: Int = 2) { products(first: $n) { nodes { name stock { sold } } } }" },
    {
      name: "variable default overridden",
      query: "query($n: Int = 2) { products(first: $n) { nodes { name stock { sold } } } }",
      variables: { n: 1 },
    },
    { name: "null variable", query: "query($n: Int) { products(first: $n) { nodes { name } } }", variables: { n: null } },
    { name: "unused extra variable", query: "{ products(first: 1) { nodes { id } } }", variables: { extra: 1 } },
    { name: "variables: null", query: "{ products(first: 1) { nodes { id stock { available } } } }", variables: null as never },
    { name: "accept */*", query: "{ products(first: 2) { nodes { id stock { available } } } }", headers: { accept: "*/*" } },
    {
      name: "accept graphql-response+json",
      query: "{ products(first: 2) { nodes { id stock { available } } } }",
      headers: { accept: "application/graphql-response+json" },
    },
    {
      name: "accept json then graphql-response",
      query: "{ products(first: 2) { nodes { id } } }",
      headers: { accept: "application/json, application/graphql-response+json" },
    },
    // What the executor leaves to the gateway: the gateway answers both routers.
    { name: "a syntax error", query: "{ product(", path: "fallback" },
    { name: "an unknown field", query: '{ product(id: "1") { nope } }', path: "fallback" },
    { name: "an unknown operation name", query: "query A { __typename }", operationName: "B", path: "fallback" },
    { name: "several operations, none chosen", query: "query A { __typename } query B { __typename }", path: "fallback" },
    {
      name: "a variable of the wrong type",
      query: "query($n: Int) { products(first: $n) { nodes { id } } }",
      variables: { n: "two" },
      path: "fallback",
    },
    { name: "a missing required variable", query: "query($id: ID!) { product(id: $id) { id stock { available } } }", path: "fallback" },
    { name: "introspection", query: "{ __schema { queryType { name } } }", path: "fallback" },
    { name: "introspection with data", query: '{ products(first: 1) { nodes { id } } __type(name: "Product") { name } }', path: "fallback" },
    { name: "a subscription over POST", query: `subscription { stockChanged(productIds: ["1"]) { available } }`, path: "multipart" },
    // @defer is the executor's alone (the gateway does not serve it): test/defer.e2e.test.ts. @stream neither serves.
    { name: "@stream", query: "{ products(first: 2) { nodes @stream { id } } }", path: "fallback" },
    { name: "accept text/html only (406)", query: "{ __typename }", headers: { accept: "text/html" }, path: "fallback" },
  ];
}

// --- generated over the API schema ---

/** Literal arguments for the root fields, from this run's fixtures. */
function rootArguments(f: Fixtures): Record<string, string> {
  return {
    product: `(id: ${JSON.stringify(f.productA.id)})`,
    products: "(first: 3)",
    searchProducts: `(query: ${JSON.stringify(f.searchWord)}, first: 3)`,
    order: `(id: ${JSON.stringify(f.order.id)})`,
    myOrders: "(first: 5)",
    flashSale: `(id: ${JSON.stringify(f.saleId)})`,
    stock: `(productId: ${JSON.stringify(f.productA.id)})`,
  };
}

interface Style {
  alias: boolean;
  typename: boolean;
  /** Wraps every other field of a selection in an inline fragment on its type. */
  fragments: boolean;
  /** Puts every other field under @include(if: $yes) / @skip(if: $no) alternately. */
  conditions: boolean;
}

/** Every field of `type` that needs no arguments, to `depth` levels of objects. */
function selectAll(type: GraphQLObjectType, depth: number, style: Style): string {
  const parts: string[] = [];
  // Aliases on the first level only: the operation limits allow 15 (common/operation-limits.ts).
  const alias = style.alias && depth === 4;
  if (style.typename) parts.push(alias ? "tn: __typename" : "__typename");
  let i = 0;
  for (const field of Object.values(type.getFields())) {
    if (field.args.some((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)) continue;
    const named = getNamedType(field.type);
    let part = alias ? `${field.name}_: ${field.name}` : field.name;
    if (isCompositeType(named) && (depth <= 1 || !isObjectType(named))) continue;
    i++;
    if (style.conditions && i % 2 === 0) part += i % 4 === 0 ? " @include(if: $yes)" : " @skip(if: $no)";
    if (style.conditions && i % 3 === 0) part += " @include(if: $off)";
    if (isObjectType(named)) part += ` { ${selectAll(named, depth - 1, style)} }`;
    if (style.fragments && i % 2 === 1) part = `... on ${type.name} { ${part} }`;
    parts.push(part);
  }
  return parts.join(" ");
}

function generated(f: Fixtures, schema: GraphQLSchema): Case[] {
  const args = rootArguments(f);
  const cases: Case[] = [];
  const query = schema.getQueryType()!;
  const styles: [string, Style][] = [
    ["every field", { alias: false, typename: false, fragments: false, conditions: false }],
    ["every field with __typename, aliased", { alias: true, typename: true, fragments: false, conditions: false }],
    ["every field through inline fragments", { alias: false, typename: true, fragments: true, conditions: false }],
    ["every field under @skip/@include", { alias: false, typename: false, fragments: false, conditions: true }],
  ];
  for (const field of Object.values(query.getFields())) {
    const rootArgs = args[field.name];
    if (rootArgs === undefined) continue;
    const type = getNamedType(field.type) as GraphQLObjectType;
    for (const [styleName, style] of styles) {
      const body = `${field.name}${rootArgs} { ${selectAll(type, 4, style)} }`;
      const header = style.conditions ? "query G($yes: Boolean!, $no: Boolean!, $off: Boolean = false)" : "query G";
      for (const [variant, variables] of style.conditions
        ? ([
            ["on", { yes: true, no: false }],
            ["off", { yes: false, no: true, off: true }],
          ] as const)
        : ([["", undefined]] as const)) {
        cases.push({ name: `${field.name}: ${styleName} ${variant}`.trim(), query: `${header} { ${body} }`, variables, as: "user" });
      }
    }
    const named = `query N { ...Root } fragment Root on Query { ${field.name}${rootArgs} { ...Sel } } fragment Sel on ${type.name} { ${selectAll(
      type,
      4,
      {
        alias: false,
        typename: true,
        fragments: false,
        conditions: false,
      },
    )} }`;
    cases.push({ name: `${field.name}: named fragments`, query: named, as: "user" });
    cases.push({ name: `${field.name}: every field, anonymously`, query: `{ ${field.name}${rootArgs} { ${selectAll(type, 4, styles[1]![1])} } }` });
  }
  // flashSales (up to 100 sales) with every field is over the cost limit (common/operation-limits.ts).
  cases.push({
    name: "flashSales: a join per item",
    query: "{ flashSales(state: ACTIVE) { id state items { remaining product { name stock { available } } } } }",
  });
  // The same field selected twice with different sub-selections, merged.
  cases.push({
    name: "one field selected twice, merged",
    query: `{ products(first: 2) { nodes { id stock { available } } nodes { name stock { sold } } } p: product(id: ${JSON.stringify(f.productA.id)}) { stock { reserved } ... on Product { stock { available } name } } }`,
  });
  return cases;
}

export function corpus(f: Fixtures, schema: GraphQLSchema): Case[] {
  return [...storefront(f), ...collected(f), ...errorsAndNulls(f), ...generated(f, schema)];
}
