/**
 * Which operation limits a service holds documents to (docs/edge-protection.md): the router's from config
 * (OPERATION_MAX_*), a subgraph's with headroom for what the router plans, and the cost model of the committed
 * supergraph. The checks themselves are operation-limits.ts.
 */
import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { loadConfig, type Config } from "./config.ts";
import { costModelFromSupergraph, type CostModel } from "./operation-measure.ts";
import type { OperationLimits } from "./operation-limits.ts";

const SUPERGRAPH = new URL("../schema/supergraph.graphql", import.meta.url);
let supergraphModel: CostModel | undefined;

/** The cost model of the committed supergraph, read once. */
export function supergraphCostModel(): CostModel {
  supergraphModel ??= costModelFromSupergraph(parse(readFileSync(SUPERGRAPH, "utf8")));
  return supergraphModel;
}

/** The limits the router holds client documents to (OPERATION_MAX_*). */
export function operationLimitsFrom(config: Config, costModel: CostModel = supergraphCostModel()): OperationLimits {
  return {
    maxTokens: config.OPERATION_MAX_TOKENS,
    maxDepth: config.OPERATION_MAX_DEPTH,
    maxAliases: config.OPERATION_MAX_ALIASES,
    maxRootFields: config.OPERATION_MAX_ROOT_FIELDS,
    maxFields: config.OPERATION_MAX_FIELDS,
    maxDirectives: config.OPERATION_MAX_DIRECTIVES,
    maxCost: config.OPERATION_MAX_COST,
    maxVariablesBytes: config.OPERATION_MAX_VARIABLES_BYTES,
    costModel,
  };
}

/** The limits of the defaults of common/config.ts (a service given none). */
export const defaultOperationLimits = (): OperationLimits => operationLimitsFrom(loadConfig({}));

/**
 * The limits of a subgraph, which must accept every fetch the router plans from a document the router accepted:
 * the query planner adds `__typename` and key fields at each entity boundary, names and declares variables, and
 * sends `_entities` representations (one per entity, bounded by the router's cost limit, not by its variables
 * limit), so the counts get twice the router's allowance and variables are bounded by the body size alone.
 */
export function subgraphLimitsFrom(limits: OperationLimits): OperationLimits {
  return {
    ...limits,
    maxTokens: 2 * limits.maxTokens,
    maxDepth: limits.maxDepth + 1,
    maxAliases: 2 * limits.maxAliases,
    maxRootFields: 2 * limits.maxRootFields,
    maxFields: 2 * limits.maxFields,
    maxDirectives: 2 * limits.maxDirectives,
    maxCost: 2 * limits.maxCost,
    maxVariablesBytes: Infinity,
  };
}

/** What a subgraph's edge takes from config: the router's limits with headroom, and its body and message sizes. */
export interface SubgraphEdge {
  limits: OperationLimits | null;
  maxBodyBytes: number;
  maxMessageBytes: number;
}

/** A subgraph's edge from config (OPERATION_MAX_*, WS_MAX_MESSAGE_BYTES), so raising the router's limits raises its subgraphs'. */
export const subgraphEdgeFrom = (config: Config): SubgraphEdge => ({
  limits: subgraphLimitsFrom(operationLimitsFrom(config)),
  maxBodyBytes: config.OPERATION_MAX_BODY_BYTES,
  maxMessageBytes: config.WS_MAX_MESSAGE_BYTES,
});
