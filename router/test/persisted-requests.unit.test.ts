import type http from "node:http";
import { buildSchema, GraphQLError } from "graphql";
import { expect, test } from "@jest/globals";
import { createPersistedDocuments } from "../src/persisted/documents.ts";
import { createPersistedRequests, type PersistedMode } from "../src/persisted/requests.ts";
import { documentIdOf } from "../../schema/persisted-documents.ts";

const schema = buildSchema(`type Query { hello(name: String): String }`);
const trusted = "query Hello { hello }";
const manifest = {
  format: "apollo-persisted-query-manifest" as const,
  version: 1 as const,
  operations: [{ id: documentIdOf(trusted), name: "Hello", type: "query" as const, body: trusted }],
};
const requests = (mode: PersistedMode) => createPersistedRequests({ mode, documents: createPersistedDocuments({ manifest, schema }) });

/** A response that keeps the headers set on it. */
const response = () => {
  const headers: Record<string, string> = {};
  return Object.assign({ setHeader: (name: string, value: string) => (headers[name] = value) }, { headers }) as unknown as http.ServerResponse & {
    headers: Record<string, string>;
  };
};
const POST = { method: "POST", url: "/graphql", headers: {} } as http.IncomingMessage;
const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    const { code, http: status } = (error as GraphQLError).extensions as { code: string; http: { status: number } };
    return { message: (error as GraphQLError).message, code, status: status.status };
  }
  return undefined;
};

test("an id becomes its document's text, with the id and nothing else of the request taken out", () => {
  const { resolveRequest } = requests("required");
  const id = documentIdOf(trusted);
  const variables = { name: "x" };
  for (const body of [
    { extensions: { persistedQuery: { version: 1, sha256Hash: id }, tracing: true }, variables, operationName: "Hello" },
    { documentId: `sha256:${id}`, variables, operationName: "Hello", extensions: { tracing: true } },
  ]) {
    expect(resolveRequest(POST, response(), body)).toEqual({
      query: trusted,
      variables,
      operationName: "Hello",
      extensions: { tracing: true },
    });
  }
});

test("an unknown id is PERSISTED_QUERY_NOT_FOUND with HTTP 200 and no caching, as Apollo Server answers it", () => {
  const res = response();
  const body = { extensions: { persistedQuery: { version: 1, sha256Hash: documentIdOf("{ hello }") } } };
  expect(refusal(() => requests("optional").resolveRequest(POST, res, body))).toEqual({
    message: "PersistedQueryNotFound",
    code: "PERSISTED_QUERY_NOT_FOUND",
    status: 200,
  });
  expect(res.headers).toEqual({ "cache-control": "private, no-cache, must-revalidate" });
});

test("registration checks the hash, and only `optional` keeps the document", () => {
  const query = "{ hello }";
  const body = { query, extensions: { persistedQuery: { version: 1, sha256Hash: documentIdOf(query) } } };
  const optional = requests("optional");
  expect(optional.resolveRequest(POST, response(), body)).toEqual({ query });
  const byHash = { extensions: { persistedQuery: { version: 1, sha256Hash: documentIdOf(query) } } };
  expect(optional.resolveRequest(POST, response(), byHash)).toEqual({ query });
  const wrong = { query, extensions: { persistedQuery: { version: 1, sha256Hash: documentIdOf(trusted) } } };
  expect(refusal(() => optional.resolveRequest(POST, response(), wrong))).toMatchObject({
    message: "provided sha does not match query",
    status: 400,
  });
  expect(refusal(() => requests("required").resolveRequest(POST, response(), body))).toMatchObject({
    code: "PERSISTED_QUERY_NOT_IN_LIST",
    status: 403,
  });
});

test("`required` runs a manifest text as it is and refuses any other, on HTTP and on a socket", () => {
  const required = requests("required");
  expect(required.resolveRequest(POST, response(), { query: trusted })).toEqual({ query: trusted });
  expect(refusal(() => required.resolveRequest(POST, response(), { query: "{ hello }" }))).toMatchObject({ code: "PERSISTED_QUERY_NOT_IN_LIST" });
  const parse = required.guardSocket(() => ({ kind: "Document", definitions: [] }) as never);
  expect(refusal(() => parse({ query: "subscription { x }" }))).toMatchObject({ code: "PERSISTED_QUERY_NOT_IN_LIST" });
  expect(requests("optional").resolveRequest(POST, response(), { query: "{ hello }" })).toEqual({ query: "{ hello }" });
});

test("a GET's parameters are rewritten in place: the text in `query`, the id gone, other extensions kept", () => {
  const req = {
    method: "GET",
    url: `/graphql?documentId=${documentIdOf(trusted)}&variables=%7B%7D&extensions=${encodeURIComponent(JSON.stringify({ tracing: true }))}`,
    headers: {},
  } as http.IncomingMessage;
  requests("required").resolveRequest(req, response(), undefined);
  const params = new URL(req.url!, "http://x").searchParams;
  expect(Object.fromEntries(params)).toEqual({ query: trusted, variables: "{}", extensions: '{"tracing":true}' });
});
