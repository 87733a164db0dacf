import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "graphql";
import { composeServices } from "@apollo/composition";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

export interface SubgraphEntry {
  name: string;
  /** SDL file, relative to the repository root. */
  schema: string;
  /** URL written into the supergraph; the router overrides it from `urlEnv`. */
  url: string;
  /** Config variable that holds this subgraph's URL at run time. */
  urlEnv: "PRODUCT_URL" | "INVENTORY_URL" | "ORDER_URL" | "FLASH_SALE_URL";
}

export const SUBGRAPHS: SubgraphEntry[] = JSON.parse(readFileSync(`${ROOT}schema/subgraphs.json`, "utf8"));
export const SUPERGRAPH_FILE = `${ROOT}schema/supergraph.graphql`;

/** Composes the subgraph SDL files into the supergraph SDL with Apollo's composition (Federation 2). */
export function composeSupergraph(): string {
  const result = composeServices(SUBGRAPHS.map((s) => ({ name: s.name, url: s.url, typeDefs: parse(readFileSync(`${ROOT}${s.schema}`, "utf8")) })));
  if (result.errors) throw new Error(`Composition failed:\n${result.errors.map((e) => e.message).join("\n")}`);
  return result.supergraphSdl;
}
