import { loadConfig } from "../../../common/config.ts";
import { createLogger } from "../../../common/logger.ts";
import { createLifecycle } from "../../../common/runtime.ts";
import { connectInfra } from "../../../common/infra.ts";
import { createProductService } from "./server.ts";

const config = loadConfig();
const logger = createLogger("product", config.LOG_LEVEL);
const lifecycle = createLifecycle(logger);

await lifecycle.run(async () => {
  const infra = await connectInfra(config, logger, lifecycle, "product", { relay: true });
  const service = await createProductService({ prisma: infra.prisma, logger, internalSecret: config.INTERNAL_SECRET, readiness: infra.readiness });
  lifecycle.add("http", service, (s) => s.close());
  const port = await service.listen(config.PRODUCT_PORT);
  logger.info({ port }, "product subgraph listening");
});
