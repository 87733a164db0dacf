import type { Redis } from "ioredis";
import { buildSubgraph } from "../../../common/schema.ts";
import { createService, type ReadinessCheck } from "../../../common/service.ts";
import { createInternalIdentityReader, IDENTITY_HEADER } from "../../../common/identity.ts";
import { createStockCounters } from "../../../common/stock.ts";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { createRestock } from "./restock.ts";
import { createStockLoader, resolvers, type InventoryContext } from "./resolvers.ts";

export interface InventoryServiceDeps {
  prisma: PrismaClient;
  redis: Redis;
  logger: Logger;
  internalSecret: string;
  readiness?: ReadinessCheck[];
}

/** Builds the inventory subgraph from its dependencies; it does not listen or connect anything itself. */
export async function createInventoryService(deps: InventoryServiceDeps) {
  const counters = createStockCounters(deps.redis, deps.prisma);
  const restock = createRestock(deps.prisma, counters);
  const readIdentity = createInternalIdentityReader(deps.internalSecret);
  return createService<InventoryContext>({
    name: "inventory",
    logger: deps.logger,
    schema: buildSubgraph(new URL("../schema.graphql", import.meta.url), resolvers as never),
    readiness: deps.readiness ?? [],
    context: async (base, req) => ({
      ...base,
      identity: await readIdentity(req.header(IDENTITY_HEADER)),
      counters,
      stockLoader: createStockLoader(counters),
      restock,
    }),
  });
}
