import { Supergraph, operationFromDocument, type Schema } from "@apollo/federation-internals";
import { QueryPlanner, type FetchNode, type PlanNode } from "@apollo/query-planner";
import { buildOperationContext } from "@apollo/gateway";

type OperationContext = ReturnType<typeof buildOperationContext>;
import { LRUCache } from "lru-cache";
import { validate, type DocumentNode, type GraphQLError, type GraphQLSchema } from "graphql";

/** A subscription as the federation query planner plans it: a primary fetch, then the rest per event. */
export interface SubscriptionPlan {
  primary: FetchNode;
  rest?: PlanNode;
  operationContext: OperationContext;
  /** Root field of the subscription (e.g. `stockChanged`). */
  rootField: string;
  /** The root field is declared `@public` in its subgraph: its result is the same whoever asks (subscribe.ts). */
  isPublic: boolean;
}

/** The spec of `@public` (subgraphs' schema.graphql), composed into the supergraph with @composeDirective. */
const PUBLIC_SPEC = "https://flashgraph.dev/subscriptions";

/** Subscription fields whose result does not depend on who asks: those the supergraph marks `@public`. */
function publicSubscriptionFields(supergraph: Supergraph): Set<string> {
  const directive = supergraph.schema.coreFeatures?.getByIdentity(PUBLIC_SPEC)?.directiveNameInSchema("public");
  const root = supergraph.schema.schemaDefinition.rootType("subscription");
  if (!directive || !root) return new Set();
  return new Set(
    root
      .fields()
      .filter((field) => field.appliedDirectivesOf(directive).length > 0)
      .map((field) => field.name),
  );
}

/**
 * Plans subscriptions with the same planner @apollo/gateway uses for queries (which plans them but cannot
 * execute them). Plans are cached per document text and operation name.
 */
export function createSubscriptionPlanner(supergraphSdl: string) {
  const supergraph = Supergraph.build(supergraphSdl);
  const apiSchema: Schema = supergraph.apiSchema();
  const schema: GraphQLSchema = apiSchema.toGraphQLJSSchema();
  const supergraphSchema: GraphQLSchema = supergraph.schema.toGraphQLJSSchema();
  const planner = new QueryPlanner(supergraph);
  const cache = new LRUCache<string, SubscriptionPlan>({ max: 1_000 });
  const publicFields = publicSubscriptionFields(supergraph);

  /** Validates and plans; returns the validation errors instead when the document is not valid. */
  function plan(document: DocumentNode, source: string, operationName?: string | null): SubscriptionPlan | readonly GraphQLError[] {
    const key = `${operationName ?? ""}\u0000${source}`;
    const cached = cache.get(key);
    if (cached) return cached;
    const errors = validate(schema, document);
    if (errors.length > 0) return errors;
    const operationContext = buildOperationContext({ schema, operationDocument: document, operationName: operationName ?? undefined });
    const queryPlan = planner.buildQueryPlan(operationFromDocument(apiSchema, document, { operationName: operationName ?? undefined }));
    const node = queryPlan.node;
    if (node?.kind !== "Subscription") throw new Error("not a subscription operation");
    const rootSelection = operationContext.operation.selectionSet.selections[0];
    const rootField = rootSelection?.kind === "Field" ? rootSelection.name.value : "";
    const result: SubscriptionPlan = { primary: node.primary, rest: node.rest, operationContext, rootField, isPublic: publicFields.has(rootField) };
    cache.set(key, result);
    return result;
  }

  return { schema, apiSchema, supergraphSchema, supergraph, queryPlanner: planner, plan };
}

export type SubscriptionPlanner = ReturnType<typeof createSubscriptionPlanner>;
