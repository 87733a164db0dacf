import { loadConfig } from "../../../common/config.ts";
import { subgraphEdgeFrom } from "../../../common/operation-limits-config.ts";
import { createLogger } from "../../../common/logger.ts";
import { createLifecycle } from "../../../common/runtime.ts";
import { connectInfra } from "../../../common/infra.ts";
import { createInventoryService } from "./server.ts";
import { createEventHub } from "../../../common/event-hub.ts";

const config = loadConfig();
const logger = createLogger("inventory", config.LOG_LEVEL);
const lifecycle = createLifecycle(logger);

await lifecycle.run(async () => {
  const infra = await connectInfra(config, logger, lifecycle, "inventory", { redis: true, relay: "fallback" });
  const hub = lifecycle.add("event-hub", await createEventHub({ ctx: infra.kafka, topics: ["inventory"], service: "inventory", logger }), (h) =>
    h.close(),
  );
  const service = await createInventoryService({
    edge: subgraphEdgeFrom(config),
    prisma: infra.prisma,
    redis: infra.redis!,
    logger,
    internalSecret: config.INTERNAL_SECRET,
    readiness: infra.readiness,
    hub,
  });
  lifecycle.add("http", service, (s) => s.close());
  const port = await service.listen(config.INVENTORY_PORT, config.SUBGRAPH_HOST);
  logger.info({ port }, "inventory subgraph listening");
});
