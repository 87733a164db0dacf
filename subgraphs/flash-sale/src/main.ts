import { loadConfig } from "../../../common/config.ts";
import { subgraphEdgeFrom } from "../../../common/operation-limits-config.ts";
import { createLogger } from "../../../common/logger.ts";
import { createLifecycle } from "../../../common/runtime.ts";
import { connectInfra } from "../../../common/infra.ts";
import { createRedis } from "../../../common/redis.ts";
import { parseCidrList } from "../../../common/client-address.ts";
import { expiryIndexFor, flashRegistryFor } from "../../../common/orders/reservation-keys.ts";
import { createFlashSaleDomain } from "./domain.ts";
import { createFlashSaleService } from "./server.ts";
import { startFlashWorkers } from "./workers.ts";

const config = loadConfig();
const logger = createLogger("flash-sale", config.LOG_LEVEL);
const lifecycle = createLifecycle(logger);

await lifecycle.run(async () => {
  const infra = await connectInfra(config, logger, lifecycle, "flash-sale", { redis: true, relay: "fallback" });
  const subscriber = lifecycle.add("redis-subscriber", createRedis(config.REDIS_URL), (r) => r.quit());
  const domain = createFlashSaleDomain({
    prisma: infra.prisma,
    redis: infra.redis!,
    subscriber,
    ctx: infra.kafka,
    producer: infra.producer,
    logger,
    registry: flashRegistryFor(expiryIndexFor(config.DATABASE_URL)),
    reservationTtlSeconds: config.RESERVATION_TTL_SECONDS,
    tombstoneSeconds: config.RESERVATION_TOMBSTONE_SECONDS,
    saleRate: config.FLASH_SALE_RATE,
    saleBurst: config.FLASH_SALE_BURST,
    ipRate: config.FLASH_IP_RATE,
    ipBurst: config.FLASH_IP_BURST,
    ipExempt: parseCidrList(config.RATE_LIMIT_EXEMPT),
    publishLingerMs: config.FLASH_PUBLISH_LINGER_MS,
    publishTimeoutMs: config.FLASH_PUBLISH_TIMEOUT_MS,
  });
  lifecycle.add("publisher", domain.publisher, (p) => p.close());
  const workers = await startFlashWorkers({
    domain,
    logger,
    endIntervalMs: config.FLASH_END_INTERVAL_MS,
    warmUpIntervalMs: config.FLASH_WARMUP_INTERVAL_MS,
    drainWindowMs: (config.RESERVATION_TTL_SECONDS + config.RESERVATION_ORPHAN_GRACE_SECONDS) * 1000 + 3_600_000,
  });
  lifecycle.add("workers", workers, (w) => w.close());
  const service = await createFlashSaleService({
    edge: subgraphEdgeFrom(config),
    domain,
    logger,
    internalSecret: config.INTERNAL_SECRET,
    readiness: infra.readiness,
  });
  lifecycle.add("http", service, (s) => s.close());
  const port = await service.listen(config.FLASH_SALE_PORT, config.SUBGRAPH_HOST);
  logger.info({ port }, "flash-sale subgraph listening");
});
