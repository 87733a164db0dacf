import type { ReadinessCheck } from "../../../common/service.ts";
import { createSubgraphService } from "../../../common/subgraph.ts";
import type { SubgraphEdge } from "../../../common/operation-limits-config.ts";
import type { Logger } from "../../../common/logger.ts";
import type { OrderDomain } from "./domain.ts";
import { resolvers, type OrderContext } from "./resolvers.ts";
import { paymentWebhookRoute } from "./webhook.ts";
import { createOrderStatusChanges } from "./order-status-changes.ts";
import type { EventHub } from "../../../common/event-hub.ts";

export interface OrderServiceDeps {
  /** Operation limits and sizes (common/operation-limits-config.ts `subgraphEdgeFrom`; default: the config defaults). */
  edge?: SubgraphEdge;
  domain: OrderDomain;
  logger: Logger;
  internalSecret: string;
  /** PAYMENT_WEBHOOK_SECRET: HMAC key of `POST /webhooks/payment`. */
  webhookSecret: string;
  readiness?: ReadinessCheck[];
  /** Kafka fan-out for `orderStatusChanged`; without it the subscription is refused. */
  hub?: EventHub<"order">;
}

/** Builds the order subgraph (GraphQL plus the payment webhook); it does not listen or connect anything itself. */
export async function createOrderService(deps: OrderServiceDeps) {
  const { domain } = deps;
  const statusChanges = deps.hub ? createOrderStatusChanges(deps.hub) : null;
  return createSubgraphService<OrderContext>({
    ...deps.edge,
    name: "order",
    logger: deps.logger,
    schemaFile: new URL("../schema.graphql", import.meta.url),
    resolvers,
    internalSecret: deps.internalSecret,
    readiness: deps.readiness ?? [],
    subscriptions: true,
    routes: paymentWebhookRoute({ prisma: domain.prisma, secret: deps.webhookSecret, logger: deps.logger }),
    context: async (base) => ({
      ...base,
      domain,
      orderLoader: domain.orders.createLoader(),
      statusChanges,
    }),
  });
}
