/**
 * An operation compiled once per (document, operation name) into a program the executor reuses for every
 * request: the query plan from `@apollo/query-planner` over the committed supergraph (the gateway's planner,
 * so the same plan) compiled into functions (plan.ts), and the response shape from the API schema (shape.ts).
 * Anything the executor does not run is refused with a reason and answered by the gateway: invalid
 * documents (so their errors stay the gateway's), subscriptions, introspection, `@defer` / `@stream`, plans
 * with nodes it does not run.
 */
import { getOperationAST, Kind, parse, validate, visit, BREAK, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from "graphql";
import { operationFromDocument, type Schema } from "@apollo/federation-internals";
import type { QueryPlanner } from "@apollo/query-planner";
import { compilePlanNode, UnsupportedPlan, type CompiledNode } from "./plan.ts";
import { compileShape, UnsupportedOperation, type ResponseShape } from "./shape.ts";
import type { FetchRoute } from "./fetch.ts";

export interface Program {
  /** The operation's name, for metrics and logs ("anonymous" when it has none). */
  name: string;
  operation: OperationDefinitionNode;
  /** The compiled plan; null when nothing is fetched (`{ __typename }`). */
  plan: CompiledNode | null;
  shape: ResponseShape;
}

export interface ProgramCompilerOptions {
  apiSchema: Schema;
  /** The API schema as graphql-js sees it (validation, variable coercion). */
  schema: GraphQLSchema;
  supergraphSchema: GraphQLSchema;
  queryPlanner: QueryPlanner;
  routes: Record<string, FetchRoute>;
}

/** Why an operation is left to the gateway (the `reason` label of `router_executor_fallbacks_total`). */
export type FallbackReason = "invalid" | "subscription" | "introspection" | "defer" | "plan" | "error";

export class Fallback {
  constructor(readonly reason: FallbackReason) {}
}

function usesIncrementalDelivery(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    Directive(node) {
      if (node.name.value !== "defer" && node.name.value !== "stream") return undefined;
      found = true;
      return BREAK;
    },
  });
  return found;
}

export function createProgramCompiler(options: ProgramCompilerOptions) {
  const { apiSchema, schema, supergraphSchema, queryPlanner, routes } = options;

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
    if (validate(schema, document).length > 0) return new Fallback("invalid");
    if (usesIncrementalDelivery(document)) return new Fallback("defer");
    try {
      // As gateway-js executeQueryPlan builds it for shaping: the selected operation and every fragment.
      const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
      const shaped = operationFromDocument(apiSchema, { kind: Kind.DOCUMENT, definitions: [operation, ...fragments] }, { validate: false });
      const shape = compileShape(shaped);
      const queryPlan = queryPlanner.buildQueryPlan(operationFromDocument(apiSchema, document, { operationName }));
      const node = queryPlan.node;
      if (node?.kind === "Subscription") return new Fallback("subscription");
      const plan = node ? compilePlanNode(node, { supergraphSchema, routes, variableDefinitions: shaped.variableDefinitions }) : null;
      return { name: operation.name?.value ?? "anonymous", operation, plan, shape };
    } catch (error) {
      if (error instanceof UnsupportedOperation) return new Fallback("introspection");
      if (error instanceof UnsupportedPlan) return new Fallback(error.reason === "defer" ? "defer" : "plan");
      return new Fallback("error"); // the gateway reports what it makes of it
    }
  };
}
