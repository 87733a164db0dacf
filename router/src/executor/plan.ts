/**
 * A query plan compiled once into nested functions: `Sequence` runs its children in order, `Parallel` together,
 * `Flatten` moves the cursor along its prebuilt path (into every element of a list at `@`), `Condition` picks a
 * branch by a variable and `Fetch` is fetch.ts. What the executor does not run (`Defer`, `Subscription`,
 * `@fromContext` rewrites) is refused here, at compile time, and the operation stays on the gateway.
 */
import type { GraphQLSchema } from "graphql";
import { evaluateCondition, type PlanNode } from "@apollo/query-planner";
import type { VariableDefinitions } from "@apollo/federation-internals";
import { compileFetch, type Cursor, type FetchRoute, type PlanRun } from "./fetch.ts";
import { getOwn, type ResultMap } from "./merge.ts";
import type { ResponsePath } from "./errors.ts";

export type CompiledNode = (run: PlanRun, cursor: Cursor) => Promise<void>;

/** Why a plan cannot be compiled: the node kind or feature the executor leaves to the gateway. */
export class UnsupportedPlan extends Error {
  constructor(readonly reason: string) {
    super(`unsupported plan: ${reason}`);
  }
}

export interface PlanCompileContext {
  supergraphSchema: GraphQLSchema;
  routes: Record<string, FetchRoute>;
  variableDefinitions: VariableDefinitions;
}

/** The data at `path` under `value`, lists flattened (gateway-js `flattenResultsAtPath`). */
function flattenResultsAtPath(value: unknown, path: ResponsePath, from = 0): unknown {
  if (from === path.length) return value;
  if (value === undefined || value === null) return value;
  const current = path[from]!;
  if (current === "@") return (value as unknown[]).flatMap((element) => flattenResultsAtPath(element, path, from + 1));
  if (typeof current !== "string") throw new Error(`Unexpected ${typeof current} found in path`);
  if (Array.isArray(value)) throw new Error(`Unexpected array in result for path element ${current}`);
  return flattenResultsAtPath(getOwn(value as object, current), path, from + 1);
}

function compileFlatten(path: ResponsePath, child: CompiledNode): CompiledNode {
  return async (run, cursor) => {
    const data = flattenResultsAtPath(cursor.data, path) as ResultMap | ResultMap[] | null | undefined;
    if (!data) return;
    await child(run, { path: cursor.path.concat(path), data, fullResult: cursor.fullResult });
  };
}

export function compilePlanNode(node: PlanNode, context: PlanCompileContext): CompiledNode {
  switch (node.kind) {
    case "Sequence": {
      const children = node.nodes.map((child) => compilePlanNode(child, context));
      return async (run, cursor) => {
        for (const child of children) await child(run, cursor);
      };
    }
    case "Parallel": {
      const children = node.nodes.map((child) => compilePlanNode(child, context));
      return async (run, cursor) => {
        await Promise.all(children.map((child) => child(run, cursor)));
      };
    }
    case "Flatten":
      return compileFlatten(node.path, compilePlanNode(node.node, context));
    case "Fetch": {
      if (node.contextRewrites?.length) throw new UnsupportedPlan("contextRewrites");
      if (node.hasDefers) throw new UnsupportedPlan("defer");
      const route = context.routes[node.serviceName];
      if (!route) throw new UnsupportedPlan("unknown subgraph");
      const fetch = compileFetch(node, route, context.supergraphSchema);
      return async (run, cursor) => {
        try {
          await fetch(run, cursor);
        } catch (error) {
          run.errors.push(error);
        }
      };
    }
    case "Condition": {
      const ifClause = node.ifClause ? compilePlanNode(node.ifClause, context) : undefined;
      const elseClause = node.elseClause ? compilePlanNode(node.elseClause, context) : undefined;
      const { variableDefinitions } = context;
      return async (run, cursor) => {
        const picked = evaluateCondition(node, variableDefinitions, run.variables) ? ifClause : elseClause;
        if (picked) await picked(run, cursor);
      };
    }
    default:
      throw new UnsupportedPlan(node.kind.toLowerCase());
  }
}
