import type { ReadinessCheck } from "../../../common/service.ts";
import { createSubgraphService } from "../../../common/subgraph.ts";
import type { SubgraphEdge } from "../../../common/operation-limits-config.ts";
import type { Logger } from "../../../common/logger.ts";
import { CLIENT_IP_HEADER } from "../../../common/forwarded-headers.ts";
import type { FlashSaleDomain } from "./domain.ts";
import { createRemainingLoader, resolvers, type FlashSaleContext } from "./resolvers.ts";

export interface FlashSaleServiceDeps {
  /** Operation limits and sizes (common/operation-limits-config.ts `subgraphEdgeFrom`; default: the config defaults). */
  edge?: SubgraphEdge;
  domain: FlashSaleDomain;
  logger: Logger;
  internalSecret: string;
  readiness?: ReadinessCheck[];
}

/** Builds the flash-sale subgraph from its domain; it does not listen or connect anything itself. */
export async function createFlashSaleService(deps: FlashSaleServiceDeps) {
  const { domain } = deps;
  return createSubgraphService<FlashSaleContext>({
    ...deps.edge,
    name: "flash-sale",
    logger: deps.logger,
    schemaFile: new URL("../schema.graphql", import.meta.url),
    resolvers,
    internalSecret: deps.internalSecret,
    readiness: deps.readiness ?? [],
    subscriptions: true,
    context: async (base, header) => ({
      ...base,
      clientIp: header(CLIENT_IP_HEADER) ?? "unknown",
      domain,
      saleLoader: domain.sales.createLoader(),
      remainingLoader: createRemainingLoader(domain),
    }),
  });
}
