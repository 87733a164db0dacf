import type { Redis } from "ioredis";
import type { ReadinessCheck } from "../../../common/service.ts";
import { createSubgraphService } from "../../../common/subgraph.ts";
import type { SubgraphEdge } from "../../../common/operation-limits-config.ts";
import { createStockCounters } from "../../../common/stock.ts";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { createRestock } from "./restock.ts";
import { createStockChanges } from "./stock-changes.ts";
import type { EventHub } from "../../../common/event-hub.ts";
import { createStockLoader, resolvers, type InventoryContext } from "./resolvers.ts";

export interface InventoryServiceDeps {
  /** Operation limits and sizes (common/operation-limits-config.ts `subgraphEdgeFrom`; default: the config defaults). */
  edge?: SubgraphEdge;
  prisma: PrismaClient;
  redis: Redis;
  logger: Logger;
  internalSecret: string;
  readiness?: ReadinessCheck[];
  /** Kafka fan-out for `stockChanged`; without it the subscription is refused. */
  hub?: EventHub<"inventory">;
}

/** Builds the inventory subgraph from its dependencies; it does not listen or connect anything itself. */
export async function createInventoryService(deps: InventoryServiceDeps) {
  const counters = createStockCounters(deps.redis, deps.prisma);
  const restock = createRestock(deps.prisma, counters);
  const stockChanges = deps.hub ? createStockChanges(deps.prisma, deps.hub) : null;
  return createSubgraphService<InventoryContext>({
    ...deps.edge,
    name: "inventory",
    logger: deps.logger,
    schemaFile: new URL("../schema.graphql", import.meta.url),
    resolvers,
    internalSecret: deps.internalSecret,
    readiness: deps.readiness ?? [],
    subscriptions: true,
    context: async (base) => ({
      ...base,
      stockLoader: createStockLoader(counters),
      restock,
      stockChanges,
    }),
  });
}
