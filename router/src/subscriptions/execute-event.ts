import { executeQueryPlan, type GraphQLDataSource, type ServiceMap } from "@apollo/gateway";
import type { GatewayGraphQLRequestContext } from "@apollo/server-gateway-interface";
import type { QueryPlan } from "@apollo/query-planner";
import type { ExecutionResult } from "graphql";
import type { RouterContext } from "../context.ts";
import type { Logger } from "../../../common/logger.ts";
import type { SubscriptionPlan, SubscriptionPlanner } from "./planner.ts";

const EVENT_SOURCE = "__subscription_event__";

/**
 * Resolves one subscription event through the federation: the event stands in for the plan's primary
 * fetch (a data source that answers with it), then the gateway's own executor runs the `rest` of the plan
 * (entity fetches to other subgraphs) and shapes the response exactly as for a query.
 */
export function createEventExecutor(planner: SubscriptionPlanner, services: ServiceMap, logger: Logger) {
  return async function executeEvent(
    plan: SubscriptionPlan,
    event: Record<string, unknown>,
    variables: Record<string, unknown>,
    context: RouterContext,
  ): Promise<ExecutionResult> {
    const eventSource: GraphQLDataSource = { process: async () => ({ data: event }) } as GraphQLDataSource;
    const primary = { ...plan.primary, serviceName: EVENT_SOURCE };
    const queryPlan: QueryPlan = {
      kind: "QueryPlan",
      node: plan.rest ? { kind: "Sequence", nodes: [primary, plan.rest] } : primary,
    };
    const requestContext = {
      request: { variables },
      context,
      logger,
      metrics: {},
      overallCachePolicy: undefined,
      operationName: plan.operationContext.operation.name?.value ?? null,
      operation: plan.operationContext.operation,
    } as unknown as GatewayGraphQLRequestContext<RouterContext>;
    return executeQueryPlan(
      queryPlan,
      { ...services, [EVENT_SOURCE]: eventSource },
      requestContext,
      plan.operationContext,
      planner.supergraphSchema,
      planner.apiSchema,
    ) as Promise<ExecutionResult>;
  };
}
