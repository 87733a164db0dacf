import { buildSubgraph } from "../../../common/schema.ts";
import { createService, type ReadinessCheck } from "../../../common/service.ts";
import { createInternalIdentityReader, IDENTITY_HEADER } from "../../../common/identity.ts";
import type { Logger } from "../../../common/logger.ts";
import type { FlashSaleDomain } from "./domain.ts";
import { createRemainingLoader, resolvers, type FlashSaleContext } from "./resolvers.ts";

/** The header the router sets to the address its client connected from (clients cannot set it through the router). */
export const CLIENT_IP_HEADER = "x-client-ip";

export interface FlashSaleServiceDeps {
  domain: FlashSaleDomain;
  logger: Logger;
  internalSecret: string;
  readiness?: ReadinessCheck[];
}

/** Builds the flash-sale subgraph from its domain; it does not listen or connect anything itself. */
export async function createFlashSaleService(deps: FlashSaleServiceDeps) {
  const { domain } = deps;
  const readIdentity = createInternalIdentityReader(deps.internalSecret);
  return createService<FlashSaleContext>({
    name: "flash-sale",
    logger: deps.logger,
    schema: buildSubgraph(new URL("../schema.graphql", import.meta.url), resolvers as never),
    readiness: deps.readiness ?? [],
    subscriptions: true,
    context: async (base, header) => ({
      ...base,
      identity: await readIdentity(header(IDENTITY_HEADER)),
      clientIp: header(CLIENT_IP_HEADER) ?? "unknown",
      domain,
      saleLoader: domain.sales.createLoader(),
      remainingLoader: createRemainingLoader(domain),
    }),
  });
}
