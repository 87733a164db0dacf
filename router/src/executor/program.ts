/**
 * An operation compiled once per (document, operation name) into a program the executor reuses for every
 * request: the query plan from `@apollo/query-planner` over the committed supergraph (the gateway's planner,
 * so the same plan) compiled into functions (plan.ts), and the response shape from the API schema (shape.ts).
 * An operation with `@defer` is validated against the API schema with `@defer` declared and planned by a
 * second planner with incremental delivery on (so every other operation keeps the gateway's own plan), and
 * its plan's root compiled by defer-plan.ts. Anything the executor does not run is refused with a reason and
 * answered by the gateway: invalid documents (so their errors stay the gateway's; `@stream` is one),
 * subscriptions, introspection, plans with nodes it does not run.
 */
import { getOperationAST, Kind, parse, validate, visit, BREAK, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import { operationFromDocument, type Schema, type Supergraph } from "@apollo/federation-internals";
import { QueryPlanner } from "@apollo/query-planner";
import { compileRootPlan, type RootPlan } from "./defer-plan.ts";
import { compilePlanNode, UnsupportedPlan, type CompiledNode } from "./plan.ts";
import { compileShape, UnsupportedOperation, type ResponseShape } from "./shape.ts";
import type { FetchRoute } from "./fetch.ts";

export interface Program {
  /** The operation's name, for metrics and logs ("anonymous" when it has none). */
  name: string;
  operation: OperationDefinitionNode;
  /** The compiled plan; null when nothing is fetched (`{ __typename }`) and for an operation with `@defer`. */
  plan: CompiledNode | null;
  /** An operation with `@defer`: its plan per request, a Defer node to stream or a plan without one (defer-plan.ts). */
  deferred?: RootPlan;
  shape: ResponseShape;
}

export interface ProgramCompilerOptions {
  apiSchema: Schema;
  /** The API schema as graphql-js sees it (validation, variable coercion). */
  schema: GraphQLSchema;
  supergraphSchema: GraphQLSchema;
  queryPlanner: QueryPlanner;
  /** The supergraph `queryPlanner` plans over: the planner of `@defer` operations is built on it, at the first one. */
  supergraph: Supergraph;
  routes: Record<string, FetchRoute>;
}

/** Why an operation is left to the gateway (the `reason` label of `router_executor_fallbacks_total`). */
export type FallbackReason = "invalid" | "subscription" | "introspection" | "defer" | "plan" | "error";

export class Fallback {
  constructor(readonly reason: FallbackReason) {}
}

function usesDefer(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Directive(node) {
      if (node.name.value !== "defer") return undefined;
      found = true;
      return BREAK;
    },
  });
  return found;
}

export function createProgramCompiler(options: ProgramCompilerOptions) {
  const { apiSchema, schema, supergraphSchema, queryPlanner, routes } = options;
  let deferring: { schema: GraphQLSchema; queryPlanner: QueryPlanner } | undefined;
  const forDefer = () =>
    (deferring ??= {
      schema: apiSchema.toGraphQLJSSchema({ includeDefer: true }),
      queryPlanner: new QueryPlanner(options.supergraph, { incrementalDelivery: { enableDefer: true } }),
    });

  return function compile(query: string, operationName: string | undefined): Program | Fallback {
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch {
      return new Fallback("invalid");
    }
    const operation = getOperationAST(document, operationName);
    if (!operation) return new Fallback("invalid");
    if (operation.operation === "subscription") return new Fallback("subscription");
    const defers = usesDefer(document);
    if (validate(defers ? forDefer().schema : schema, document).length > 0) return new Fallback("invalid");
    try {
      // As gateway-js executeQueryPlan builds it for shaping: the selected operation and every fragment.
      const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
      const shaped = operationFromDocument(apiSchema, { kind: Kind.DOCUMENT, definitions: [operation, ...fragments] }, { validate: false });
      const shape = compileShape(shaped);
      const planner = defers ? forDefer().queryPlanner : queryPlanner;
      const queryPlan = planner.buildQueryPlan(operationFromDocument(apiSchema, document, { operationName }));
      const node = queryPlan.node;
      if (node?.kind === "Subscription") return new Fallback("subscription");
      const context = { supergraphSchema, routes, variableDefinitions: shaped.variableDefinitions };
      const name = operation.name?.value ?? "anonymous";
      if (defers) return { name, operation, plan: null, deferred: compileRootPlan(node, { ...context, operation: shaped }), shape };
      return { name, operation, plan: node ? compilePlanNode(node, context) : null, shape };
    } catch (error) {
      if (error instanceof UnsupportedOperation) return new Fallback("introspection");
      if (error instanceof UnsupportedPlan) return new Fallback(error.reason === "defer" ? "defer" : "plan");
      return new Fallback("error"); // the gateway reports what it makes of it
    }
  };
}
