/**
 * A plan with `Defer` nodes (an operation with `@defer`, planned with incremental delivery on) compiled into
 * parts: the primary part (its plan node and its response shape, from the Defer node's `subselection`) and
 * each deferred part (its `queryPath`, label, plan node and shape); a Defer node nested in a deferred one (a
 * `@defer` inside a `@defer`) gives that part deferred parts of its own. A `Condition` on `@defer(if: $var)`
 * picks, per request, the Defer node or the plan without it. A deferred part that depends on a fetch outside
 * the parts run before it, or sits under a type condition (`... on T` in its path), is refused here and the
 * operation is left to the gateway.
 */
import { evaluateCondition, type DeferNode, type DeferredNode, type PlanNode } from "@apollo/query-planner";
import { parseSelectionSet, type CompositeType, type FieldSelection, type Operation, type SelectionSet } from "@apollo/federation-internals";
import { compilePlanNode, UnsupportedPlan, type CompiledNode, type PlanCompileContext } from "./plan.ts";
import { compileSelectionShape, type ResponseShape } from "./shape.ts";

/** A part of the response sent after the first: the objects at `queryPath` completed with its fields. */
export interface DeferredPart {
  /** The `@defer(label:)`, sent with each of its payloads. */
  label: string | undefined;
  /** Response names from the root to the part's objects; lists on the way are entered element by element. */
  queryPath: string[];
  node: CompiledNode | undefined;
  /** The part's fields, shaped at each object of `queryPath`. */
  shape: ResponseShape;
  /** Parts deferred inside this one, sent after it. */
  deferred: DeferredPart[];
}

export interface CompiledDefer {
  primary: { node: CompiledNode | null; shape: ResponseShape };
  deferred: DeferredPart[];
}

/** What a request runs: a Defer node (streamed), or a plan without one (null: nothing to fetch). */
export type ResolvedPlan = { defer: CompiledDefer } | { plan: CompiledNode | null };

/** Picks the plan for a request's variables (`@defer(if: $var)`). */
export type RootPlan = (variables: Record<string, unknown> | undefined) => ResolvedPlan;

export interface DeferCompileContext extends PlanCompileContext {
  /** The client's operation on the API schema: where each part's parent type is read. */
  operation: Operation;
}

function fieldNamed(selectionSet: SelectionSet, responseName: string): FieldSelection | undefined {
  for (const selection of selectionSet.selections()) {
    if (selection.kind === "FieldSelection") {
      if (selection.element.responseName() === responseName) return selection;
    } else {
      const found = fieldNamed(selection.selectionSet, responseName);
      if (found) return found;
    }
  }
  return undefined;
}

/** The type of the objects at `queryPath` in the client's operation. */
function parentTypeAt(operation: Operation, queryPath: string[]): CompositeType {
  let selectionSet = operation.selectionSet;
  for (const element of queryPath) {
    if (element.startsWith("... on ")) throw new UnsupportedPlan("defer");
    const field = fieldNamed(selectionSet, element);
    if (!field?.selectionSet) throw new UnsupportedPlan("defer");
    selectionSet = field.selectionSet;
  }
  return selectionSet.parentType;
}

function compilePart(context: DeferCompileContext, queryPath: string[], subselection: string | undefined): ResponseShape {
  const { operation } = context;
  const parentType = parentTypeAt(operation, queryPath);
  const selectionSet = subselection
    ? parseSelectionSet({ parentType, source: subselection, variableDefinitions: operation.variableDefinitions, fragments: operation.fragments })
    : undefined;
  return compileSelectionShape(parentType, selectionSet, operation.schema(), operation.collectDefaultedVariableValues());
}

/** The ids of the fetches `node` runs (what deferred parts name in `depends`). */
function fetchIds(node: PlanNode | undefined, ids: Set<string>): Set<string> {
  if (!node) return ids;
  switch (node.kind) {
    case "Fetch":
      if (node.id !== undefined) ids.add(node.id);
      break;
    case "Sequence":
    case "Parallel":
      for (const child of node.nodes) fetchIds(child, ids);
      break;
    case "Flatten":
      fetchIds(node.node, ids);
      break;
    case "Condition":
      fetchIds(node.ifClause, ids);
      fetchIds(node.elseClause, ids);
      break;
    default:
      break;
  }
  return ids;
}

function compileDeferred(deferred: DeferredNode, context: DeferCompileContext, done: Set<string>): DeferredPart {
  if (deferred.depends.some((dependency) => !done.has(dependency.id))) throw new UnsupportedPlan("defer");
  const { label, queryPath } = deferred;
  if (deferred.node?.kind === "Defer") {
    // A nested @defer: the inner Defer node's primary is this part.
    const inner = compileDefer(deferred.node, context, queryPath, done);
    return { label, queryPath, node: inner.primary.node ?? undefined, shape: inner.primary.shape, deferred: inner.deferred };
  }
  const node = deferred.node ? compilePlanNode(deferred.node, context) : undefined;
  return { label, queryPath, node, shape: compilePart(context, queryPath, deferred.subselection), deferred: [] };
}

function compileDefer(node: DeferNode, context: DeferCompileContext, queryPath: string[], before: Set<string>): CompiledDefer {
  const primary = {
    node: node.primary.node ? compilePlanNode(node.primary.node, context) : null,
    shape: compilePart(context, queryPath, node.primary.subselection),
  };
  const done = fetchIds(node.primary.node, new Set(before));
  return { primary, deferred: node.deferred.map((deferred) => compileDeferred(deferred, context, done)) };
}

function containsDefer(node: PlanNode | undefined): boolean {
  if (!node) return false;
  if (node.kind === "Defer") return true;
  return node.kind === "Condition" && (containsDefer(node.ifClause) || containsDefer(node.elseClause));
}

/** Compiles the root of a plan that may hold Defer nodes (at its root, or under `@defer(if:)` conditions). */
export function compileRootPlan(node: PlanNode | undefined, context: DeferCompileContext): RootPlan {
  if (!node) return () => ({ plan: null });
  if (node.kind === "Defer") {
    const defer = compileDefer(node, context, [], new Set());
    return () => ({ defer });
  }
  if (node.kind === "Condition" && containsDefer(node)) {
    const ifClause = compileRootPlan(node.ifClause, context);
    const elseClause = compileRootPlan(node.elseClause, context);
    const { variableDefinitions } = context;
    return (variables) => (evaluateCondition(node, variableDefinitions, variables) ? ifClause(variables) : elseClause(variables));
  }
  const plan = compilePlanNode(node, context);
  return () => ({ plan });
}
