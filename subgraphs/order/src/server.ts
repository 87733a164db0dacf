import { buildSubgraph } from "../../../common/schema.ts";
import { createService, type ReadinessCheck } from "../../../common/service.ts";
import { createInternalIdentityReader, IDENTITY_HEADER } from "../../../common/identity.ts";
import type { Logger } from "../../../common/logger.ts";
import type { OrderDomain } from "./domain.ts";
import { resolvers, type OrderContext } from "./resolvers.ts";
import { paymentWebhookRoute } from "./webhook.ts";

export interface OrderServiceDeps {
  domain: OrderDomain;
  logger: Logger;
  internalSecret: string;
  /** PAYMENT_WEBHOOK_SECRET: HMAC key of `POST /webhooks/payment`. */
  webhookSecret: string;
  readiness?: ReadinessCheck[];
}

/** Builds the order subgraph (GraphQL plus the payment webhook); it does not listen or connect anything itself. */
export async function createOrderService(deps: OrderServiceDeps) {
  const { domain } = deps;
  const readIdentity = createInternalIdentityReader(deps.internalSecret);
  return createService<OrderContext>({
    name: "order",
    logger: deps.logger,
    schema: buildSubgraph(new URL("../schema.graphql", import.meta.url), resolvers as never),
    readiness: deps.readiness ?? [],
    routes: paymentWebhookRoute({ prisma: domain.prisma, secret: deps.webhookSecret, logger: deps.logger }),
    context: async (base, header) => ({
      ...base,
      identity: await readIdentity(header(IDENTITY_HEADER)),
      domain,
      orderLoader: domain.orders.createLoader(),
    }),
  });
}
