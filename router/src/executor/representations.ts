/**
 * Representation builders: a fetch's `requires` selection (the key fields, `__typename` and any `@requires`
 * fields of an entity) compiled once into a function that picks them out of an entity already in the result,
 * as gateway-js `executeSelectionSet` does while the plan runs.
 */
import { Kind, type GraphQLSchema } from "graphql";
import type { QueryPlanFieldNode, QueryPlanInlineFragmentNode, QueryPlanSelectionNode } from "@apollo/query-planner";
import { deepMerge, hasOwn, isObjectOfType, type ResultMap } from "./merge.ts";

/** Builds the selection's value from `source`, or null when one of its fields is missing (its fetch failed). */
export type Picker = (source: unknown) => ResultMap | null;

/** Adds one selection's value to `result`; false when `source` lacks a field. `source` is a non-null object. */
type Step = (source: ResultMap, result: ResultMap) => boolean;

function fieldStep(node: QueryPlanFieldNode, schema: GraphQLSchema): Step {
  const name = node.alias ?? node.name;
  const sub = node.selections ? compileRepresentation(node.selections, schema) : undefined;
  return (source, result) => {
    if (!hasOwn(source, name) || typeof source[name] === "undefined") return false;
    const value = source[name];
    if (Array.isArray(value)) result[name] = sub ? value.map((element: unknown) => sub(element)) : value.slice();
    else result[name] = sub ? sub(value) : value;
    return true;
  };
}

function fragmentStep(node: QueryPlanInlineFragmentNode, schema: GraphQLSchema): Step | undefined {
  const typeCondition = node.typeCondition;
  if (!typeCondition) return undefined; // gateway-js skips fragments without a type condition here
  const sub = compileRepresentation(node.selections, schema);
  return (source, result) => {
    if (isObjectOfType(schema, source, typeCondition)) deepMerge(result, sub(source));
    return true;
  };
}

/**
 * Compiles a `requires` selection. `schema` is the supergraph's (a representation may name elements the API
 * schema hides; subgraphs know them).
 */
export function compileRepresentation(selections: QueryPlanSelectionNode[], schema: GraphQLSchema): Picker {
  const steps: Step[] = [];
  for (const selection of selections) {
    const step = selection.kind === Kind.FIELD ? fieldStep(selection, schema) : fragmentStep(selection, schema);
    if (step) steps.push(step);
  }
  return (source) => {
    if (source === null) return null;
    const result: ResultMap = Object.create(null);
    for (const step of steps) if (!step(source as ResultMap, result)) return null;
    return result;
  };
}
