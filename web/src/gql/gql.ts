/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  fragment OrderFields on Order {\n    id\n    status\n    totalCents\n    currency\n    reservedUntil\n    cancelReason\n    flashSaleId\n    createdAt\n    items {\n      quantity\n      unitPriceCents\n      product {\n        id\n        name\n      }\n    }\n  }\n": typeof types.OrderFieldsFragmentDoc,
    "\n  query OrderView($id: ID!) {\n    order(id: $id) {\n      ...OrderFields\n    }\n  }\n": typeof types.OrderViewDocument,
    "\n  subscription OrderLive($id: ID!) {\n    orderStatusChanged(orderId: $id) {\n      ...OrderFields\n    }\n  }\n": typeof types.OrderLiveDocument,
    "\n  mutation PayOrder($id: ID!, $paymentToken: String!) {\n    payOrder(id: $id, paymentToken: $paymentToken) {\n      ...OrderFields\n    }\n  }\n": typeof types.PayOrderDocument,
    "\n  mutation CancelOrder($id: ID!) {\n    cancelOrder(id: $id) {\n      ...OrderFields\n    }\n  }\n": typeof types.CancelOrderDocument,
    "\n  fragment LiveStock on Stock {\n    productId\n    available\n    reserved\n    sold\n  }\n": typeof types.LiveStockFragmentDoc,
    "\n  subscription StockLive($productIds: [ID!]!) {\n    stockChanged(productIds: $productIds) {\n      productId\n      available\n      reserved\n      sold\n    }\n  }\n": typeof types.StockLiveDocument,
    "\n  fragment CatalogueProduct on Product {\n    id\n    name\n    priceCents\n    currency\n    stock {\n      productId\n      available\n    }\n  }\n": typeof types.CatalogueProductFragmentDoc,
    "\n  query Catalogue($first: Int!, $after: String) {\n    products(first: $first, after: $after) {\n      nodes {\n        ...CatalogueProduct\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.CatalogueDocument,
    "\n  query Search($query: String!, $first: Int!) {\n    searchProducts(query: $query, first: $first) {\n      ...CatalogueProduct\n    }\n  }\n": typeof types.SearchDocument,
    "\n  fragment FlashSaleFields on FlashSale {\n    id\n    name\n    startsAt\n    endsAt\n    state\n    perUserLimit\n    items {\n      salePriceCents\n      quantity\n      remaining\n      product {\n        id\n        name\n        priceCents\n        currency\n      }\n    }\n  }\n": typeof types.FlashSaleFieldsFragmentDoc,
    "\n  query FlashSalePage($id: ID!) {\n    flashSale(id: $id) {\n      ...FlashSaleFields\n    }\n  }\n": typeof types.FlashSalePageDocument,
    "\n  subscription FlashSaleLive($id: ID!) {\n    flashSaleChanged(id: $id) {\n      ...FlashSaleFields\n    }\n  }\n": typeof types.FlashSaleLiveDocument,
    "\n  mutation FlashPurchase($input: FlashPurchaseInput!) {\n    flashPurchase(input: $input) {\n      ...OrderFields\n    }\n  }\n": typeof types.FlashPurchaseDocument,
    "\n  query MyOrders($first: Int!) {\n    myOrders(first: $first) {\n      nodes {\n        ...OrderFields\n      }\n    }\n  }\n": typeof types.MyOrdersDocument,
    "\n  query ProductPage($id: ID!) {\n    product(id: $id) {\n      id\n      name\n      description\n      priceCents\n      currency\n      priceVersion\n      stock {\n        productId\n        available\n      }\n    }\n  }\n": typeof types.ProductPageDocument,
    "\n  mutation PlaceOrder($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      ...OrderFields\n    }\n  }\n": typeof types.PlaceOrderDocument,
};
const documents: Documents = {
    "\n  fragment OrderFields on Order {\n    id\n    status\n    totalCents\n    currency\n    reservedUntil\n    cancelReason\n    flashSaleId\n    createdAt\n    items {\n      quantity\n      unitPriceCents\n      product {\n        id\n        name\n      }\n    }\n  }\n": types.OrderFieldsFragmentDoc,
    "\n  query OrderView($id: ID!) {\n    order(id: $id) {\n      ...OrderFields\n    }\n  }\n": types.OrderViewDocument,
    "\n  subscription OrderLive($id: ID!) {\n    orderStatusChanged(orderId: $id) {\n      ...OrderFields\n    }\n  }\n": types.OrderLiveDocument,
    "\n  mutation PayOrder($id: ID!, $paymentToken: String!) {\n    payOrder(id: $id, paymentToken: $paymentToken) {\n      ...OrderFields\n    }\n  }\n": types.PayOrderDocument,
    "\n  mutation CancelOrder($id: ID!) {\n    cancelOrder(id: $id) {\n      ...OrderFields\n    }\n  }\n": types.CancelOrderDocument,
    "\n  fragment LiveStock on Stock {\n    productId\n    available\n    reserved\n    sold\n  }\n": types.LiveStockFragmentDoc,
    "\n  subscription StockLive($productIds: [ID!]!) {\n    stockChanged(productIds: $productIds) {\n      productId\n      available\n      reserved\n      sold\n    }\n  }\n": types.StockLiveDocument,
    "\n  fragment CatalogueProduct on Product {\n    id\n    name\n    priceCents\n    currency\n    stock {\n      productId\n      available\n    }\n  }\n": types.CatalogueProductFragmentDoc,
    "\n  query Catalogue($first: Int!, $after: String) {\n    products(first: $first, after: $after) {\n      nodes {\n        ...CatalogueProduct\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.CatalogueDocument,
    "\n  query Search($query: String!, $first: Int!) {\n    searchProducts(query: $query, first: $first) {\n      ...CatalogueProduct\n    }\n  }\n": types.SearchDocument,
    "\n  fragment FlashSaleFields on FlashSale {\n    id\n    name\n    startsAt\n    endsAt\n    state\n    perUserLimit\n    items {\n      salePriceCents\n      quantity\n      remaining\n      product {\n        id\n        name\n        priceCents\n        currency\n      }\n    }\n  }\n": types.FlashSaleFieldsFragmentDoc,
    "\n  query FlashSalePage($id: ID!) {\n    flashSale(id: $id) {\n      ...FlashSaleFields\n    }\n  }\n": types.FlashSalePageDocument,
    "\n  subscription FlashSaleLive($id: ID!) {\n    flashSaleChanged(id: $id) {\n      ...FlashSaleFields\n    }\n  }\n": types.FlashSaleLiveDocument,
    "\n  mutation FlashPurchase($input: FlashPurchaseInput!) {\n    flashPurchase(input: $input) {\n      ...OrderFields\n    }\n  }\n": types.FlashPurchaseDocument,
    "\n  query MyOrders($first: Int!) {\n    myOrders(first: $first) {\n      nodes {\n        ...OrderFields\n      }\n    }\n  }\n": types.MyOrdersDocument,
    "\n  query ProductPage($id: ID!) {\n    product(id: $id) {\n      id\n      name\n      description\n      priceCents\n      currency\n      priceVersion\n      stock {\n        productId\n        available\n      }\n    }\n  }\n": types.ProductPageDocument,
    "\n  mutation PlaceOrder($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      ...OrderFields\n    }\n  }\n": types.PlaceOrderDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment OrderFields on Order {\n    id\n    status\n    totalCents\n    currency\n    reservedUntil\n    cancelReason\n    flashSaleId\n    createdAt\n    items {\n      quantity\n      unitPriceCents\n      product {\n        id\n        name\n      }\n    }\n  }\n"): (typeof documents)["\n  fragment OrderFields on Order {\n    id\n    status\n    totalCents\n    currency\n    reservedUntil\n    cancelReason\n    flashSaleId\n    createdAt\n    items {\n      quantity\n      unitPriceCents\n      product {\n        id\n        name\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query OrderView($id: ID!) {\n    order(id: $id) {\n      ...OrderFields\n    }\n  }\n"): (typeof documents)["\n  query OrderView($id: ID!) {\n    order(id: $id) {\n      ...OrderFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription OrderLive($id: ID!) {\n    orderStatusChanged(orderId: $id) {\n      ...OrderFields\n    }\n  }\n"): (typeof documents)["\n  subscription OrderLive($id: ID!) {\n    orderStatusChanged(orderId: $id) {\n      ...OrderFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PayOrder($id: ID!, $paymentToken: String!) {\n    payOrder(id: $id, paymentToken: $paymentToken) {\n      ...OrderFields\n    }\n  }\n"): (typeof documents)["\n  mutation PayOrder($id: ID!, $paymentToken: String!) {\n    payOrder(id: $id, paymentToken: $paymentToken) {\n      ...OrderFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CancelOrder($id: ID!) {\n    cancelOrder(id: $id) {\n      ...OrderFields\n    }\n  }\n"): (typeof documents)["\n  mutation CancelOrder($id: ID!) {\n    cancelOrder(id: $id) {\n      ...OrderFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment LiveStock on Stock {\n    productId\n    available\n    reserved\n    sold\n  }\n"): (typeof documents)["\n  fragment LiveStock on Stock {\n    productId\n    available\n    reserved\n    sold\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription StockLive($productIds: [ID!]!) {\n    stockChanged(productIds: $productIds) {\n      productId\n      available\n      reserved\n      sold\n    }\n  }\n"): (typeof documents)["\n  subscription StockLive($productIds: [ID!]!) {\n    stockChanged(productIds: $productIds) {\n      productId\n      available\n      reserved\n      sold\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment CatalogueProduct on Product {\n    id\n    name\n    priceCents\n    currency\n    stock {\n      productId\n      available\n    }\n  }\n"): (typeof documents)["\n  fragment CatalogueProduct on Product {\n    id\n    name\n    priceCents\n    currency\n    stock {\n      productId\n      available\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Catalogue($first: Int!, $after: String) {\n    products(first: $first, after: $after) {\n      nodes {\n        ...CatalogueProduct\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query Catalogue($first: Int!, $after: String) {\n    products(first: $first, after: $after) {\n      nodes {\n        ...CatalogueProduct\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Search($query: String!, $first: Int!) {\n    searchProducts(query: $query, first: $first) {\n      ...CatalogueProduct\n    }\n  }\n"): (typeof documents)["\n  query Search($query: String!, $first: Int!) {\n    searchProducts(query: $query, first: $first) {\n      ...CatalogueProduct\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment FlashSaleFields on FlashSale {\n    id\n    name\n    startsAt\n    endsAt\n    state\n    perUserLimit\n    items {\n      salePriceCents\n      quantity\n      remaining\n      product {\n        id\n        name\n        priceCents\n        currency\n      }\n    }\n  }\n"): (typeof documents)["\n  fragment FlashSaleFields on FlashSale {\n    id\n    name\n    startsAt\n    endsAt\n    state\n    perUserLimit\n    items {\n      salePriceCents\n      quantity\n      remaining\n      product {\n        id\n        name\n        priceCents\n        currency\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query FlashSalePage($id: ID!) {\n    flashSale(id: $id) {\n      ...FlashSaleFields\n    }\n  }\n"): (typeof documents)["\n  query FlashSalePage($id: ID!) {\n    flashSale(id: $id) {\n      ...FlashSaleFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription FlashSaleLive($id: ID!) {\n    flashSaleChanged(id: $id) {\n      ...FlashSaleFields\n    }\n  }\n"): (typeof documents)["\n  subscription FlashSaleLive($id: ID!) {\n    flashSaleChanged(id: $id) {\n      ...FlashSaleFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation FlashPurchase($input: FlashPurchaseInput!) {\n    flashPurchase(input: $input) {\n      ...OrderFields\n    }\n  }\n"): (typeof documents)["\n  mutation FlashPurchase($input: FlashPurchaseInput!) {\n    flashPurchase(input: $input) {\n      ...OrderFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyOrders($first: Int!) {\n    myOrders(first: $first) {\n      nodes {\n        ...OrderFields\n      }\n    }\n  }\n"): (typeof documents)["\n  query MyOrders($first: Int!) {\n    myOrders(first: $first) {\n      nodes {\n        ...OrderFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ProductPage($id: ID!) {\n    product(id: $id) {\n      id\n      name\n      description\n      priceCents\n      currency\n      priceVersion\n      stock {\n        productId\n        available\n      }\n    }\n  }\n"): (typeof documents)["\n  query ProductPage($id: ID!) {\n    product(id: $id) {\n      id\n      name\n      description\n      priceCents\n      currency\n      priceVersion\n      stock {\n        productId\n        available\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PlaceOrder($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      ...OrderFields\n    }\n  }\n"): (typeof documents)["\n  mutation PlaceOrder($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      ...OrderFields\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;