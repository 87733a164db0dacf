import { loadConfig } from "../../../common/config.ts";
import { subgraphEdgeFrom } from "../../../common/operation-limits-config.ts";
import { createLogger } from "../../../common/logger.ts";
import { createLifecycle } from "../../../common/runtime.ts";
import { connectInfra } from "../../../common/infra.ts";
import { createProductService } from "./server.ts";
import { createProductStore } from "./products.ts";
import { connectProductCaching } from "./cache/caching.ts";
import { cacheOptionsFromConfig } from "./cache/options.ts";
import { runCacheRefreshConsumer } from "./cache/refresh-consumer.ts";

const config = loadConfig();
const logger = createLogger("product", config.LOG_LEVEL);
const lifecycle = createLifecycle(logger);

await lifecycle.run(async () => {
  const infra = await connectInfra(config, logger, lifecycle, "product", { redis: true, relay: "fallback" });
  const cache = config.CACHE_ENABLED
    ? lifecycle.add(
        "cache",
        await connectProductCaching({ redis: infra.redis!, redisUrl: config.REDIS_URL, options: cacheOptionsFromConfig(config), logger }),
        (c) => c.close(),
      )
    : undefined;
  const service = await createProductService({
    edge: subgraphEdgeFrom(config),
    prisma: infra.prisma,
    logger,
    internalSecret: config.INTERNAL_SECRET,
    readiness: infra.readiness,
    cache,
  });
  lifecycle.add("http", service, (s) => s.close());
  if (cache) {
    // Its reads are counted apart from the ones requests make (operation="refresh").
    const store = createProductStore(infra.prisma, { onQuery: () => cache.metrics.storeQueries.inc({ operation: "refresh" }) });
    const consumer = await runCacheRefreshConsumer({ ctx: infra.kafka, producer: infra.producer, store, caching: cache, logger });
    lifecycle.add("cache-refresh-consumer", consumer, (c) => c.close());
  }
  const port = await service.listen(config.PRODUCT_PORT, config.SUBGRAPH_HOST);
  logger.info({ port, cache: config.CACHE_ENABLED }, "product subgraph listening");
});
