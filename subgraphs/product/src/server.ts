import type { ReadinessCheck } from "../../../common/service.ts";
import { createSubgraphService } from "../../../common/subgraph.ts";
import type { SubgraphEdge } from "../../../common/operation-limits-config.ts";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { createProductStore } from "./products.ts";
import { createCachedCatalogue, type Catalogue } from "./catalogue.ts";
import { createProductMetrics } from "./metrics.ts";
import type { ProductCaching } from "./cache/caching.ts";
import { resolvers, type ProductContext } from "./resolvers.ts";

export interface ProductServiceDeps {
  /** Operation limits and sizes (common/operation-limits-config.ts `subgraphEdgeFrom`; default: the config defaults). */
  edge?: SubgraphEdge;
  prisma: PrismaClient;
  logger: Logger;
  internalSecret: string;
  readiness?: ReadinessCheck[];
  /** The read cache (`connectProductCaching`); without it every read goes to PostgreSQL (CACHE_ENABLED=false). */
  cache?: ProductCaching;
}

/** Builds the product subgraph from its dependencies; it does not listen or connect anything itself. */
export async function createProductService(deps: ProductServiceDeps) {
  const metrics = deps.cache?.metrics ?? createProductMetrics();
  const store = createProductStore(deps.prisma, { onQuery: (operation) => metrics.storeQueries.inc({ operation }) });
  const products: Catalogue = deps.cache ? createCachedCatalogue(store, deps.cache) : store;
  const service = await createSubgraphService<ProductContext>({
    ...deps.edge,
    name: "product",
    logger: deps.logger,
    schemaFile: new URL("../schema.graphql", import.meta.url),
    resolvers,
    internalSecret: deps.internalSecret,
    readiness: deps.readiness ?? [{ name: "postgres", check: () => deps.prisma.$queryRaw`SELECT 1` }],
    context: async (base) => ({
      ...base,
      products,
      productLoader: products.createLoader(),
    }),
  });
  metrics.registerIn(service.metrics.registry);
  return Object.assign(service, { store });
}
