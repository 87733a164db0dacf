import { negotiateContentType } from "../src/executor/accept.ts";

// The plan executor answers with the content type Apollo Server would choose for the same `Accept` (negotiator's
// rules: quality, then specificity, then order in the header), and leaves to Apollo Server what it cannot accept
// (406). Expected values: what `negotiator` answers for Apollo Server's list of types.
const JSON_TYPE = "application/json; charset=utf-8";
const GRAPHQL_RESPONSE = "application/graphql-response+json; charset=utf-8";

test.each([
  [undefined, JSON_TYPE],
  ["*/*", JSON_TYPE],
  ["application/json", JSON_TYPE],
  ["application/graphql-response+json", GRAPHQL_RESPONSE],
  ["application/graphql-response+json,application/json;q=0.9", GRAPHQL_RESPONSE], // Apollo Client 4
  ["application/json, application/graphql-response+json", JSON_TYPE],
  ["application/graphql-response+json, application/json", GRAPHQL_RESPONSE],
  ["text/html,*/*;q=0.1", JSON_TYPE],
  ["application/*;q=0.5, application/graphql-response+json;q=0.4", JSON_TYPE],
  ["application/json;q=0, */*", GRAPHQL_RESPONSE],
  ["*/*;q=0.8, application/graphql-response+json", GRAPHQL_RESPONSE],
  ["application/graphql-response+json;q=0.5, application/json;q=0.5", GRAPHQL_RESPONSE],
  ["application/json;q=0.9, */*", GRAPHQL_RESPONSE],
  ["application/json ; q=1", JSON_TYPE],
  ["application/graphql-response+json;q=0, */*", JSON_TYPE],
])("Accept: %s", (accept, expected) => {
  expect(negotiateContentType(accept)).toBe(expected);
});

test.each([["text/html"], ["image/png"], ["application/json;q=0"], ["application/json; charset=utf-8"], ["nonsense"]])(
  "Accept: %s is left to Apollo Server",
  (accept) => {
    expect(negotiateContentType(accept)).toBeUndefined();
  },
);
