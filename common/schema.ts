import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { buildSubgraphSchema, type GraphQLResolverMap } from "@apollo/subgraph";

/** Reads the `schema.graphql` that sits next to a subgraph's code (the SDL `npm run compose` uses too). */
export function readSdl(schemaFile: URL): string {
  return readFileSync(schemaFile, "utf8");
}

/** Builds a federation subgraph schema from its SDL file and resolvers. */
export function buildSubgraph(schemaFile: URL, resolvers: GraphQLResolverMap<unknown>) {
  return buildSubgraphSchema([{ typeDefs: parse(readSdl(schemaFile)), resolvers }]);
}
