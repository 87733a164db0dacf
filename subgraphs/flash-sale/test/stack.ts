import type { Config } from "../../../common/config.ts";
import type { Logger } from "../../../common/logger.ts";
import type { PrismaClient } from "../../../common/prisma.ts";
import { createRedis, type Redis } from "../../../common/redis.ts";
import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { createFlashSaleDomain } from "../src/domain.ts";
import { createFlashSaleService } from "../src/server.ts";
import { startFlashWorkers } from "../src/workers.ts";
import { flashRegistryFor } from "../../../common/orders/reservation-keys.ts";
import { parseCidrList } from "../../../common/client-address.ts";

export interface FlashStackOptions {
  /** The flash-sale clock (default `Date.now`). */
  now?: () => number;
  /** Defaults: FLASH_SALE_RATE / FLASH_SALE_BURST; FLASH_IP_RATE is 100 000 unless given (tests come from one address). */
  saleRate?: number;
  saleBurst?: number;
  ipRate?: number;
  ipBurst?: number;
  /** RATE_LIMIT_EXEMPT of the per-IP limit (default none). */
  ipExempt?: string;
  /** Default: RESERVATION_TTL_SECONDS. */
  reservationTtlSeconds?: number;
  /** Default: FLASH_PUBLISH_TIMEOUT_MS. */
  publishTimeoutMs?: number;
}

export interface FlashStackDeps {
  prisma: PrismaClient;
  redis: Redis;
  kafka: KafkaContext;
  producer: Producer;
  logger: Logger;
  config: Config;
  /** The order stack's expiry index: the flash registry goes with it, so that stack's sweeper sees these sales. */
  orderExpiryIndex: string;
}

/**
 * The flash-sale subgraph on a free port, for tests: no end loop or warm-up timer (tests call
 * `domain.ender.endDue` and `domain.warmUp`). Its orders are written by the order stack's flash writer.
 */
export async function startFlashSaleSubgraph(deps: FlashStackDeps, options: FlashStackOptions = {}) {
  const { config, logger } = deps;
  const subscriber = createRedis(config.REDIS_URL);
  const domain = createFlashSaleDomain({
    prisma: deps.prisma,
    redis: deps.redis,
    subscriber,
    ctx: deps.kafka,
    producer: deps.producer,
    logger,
    registry: flashRegistryFor(deps.orderExpiryIndex),
    reservationTtlSeconds: options.reservationTtlSeconds ?? config.RESERVATION_TTL_SECONDS,
    tombstoneSeconds: config.RESERVATION_TOMBSTONE_SECONDS,
    saleRate: options.saleRate ?? config.FLASH_SALE_RATE,
    saleBurst: options.saleBurst ?? config.FLASH_SALE_BURST,
    ipRate: options.ipRate ?? 100_000,
    ipBurst: options.ipBurst ?? 0,
    ipExempt: parseCidrList(options.ipExempt ?? ""),
    publishLingerMs: config.FLASH_PUBLISH_LINGER_MS,
    publishTimeoutMs: options.publishTimeoutMs ?? config.FLASH_PUBLISH_TIMEOUT_MS,
    now: options.now,
  });
  const workers = await startFlashWorkers({
    domain,
    logger,
    endIntervalMs: 0,
    warmUpIntervalMs: 0,
    drainWindowMs: 86_400_000,
  });
  const service = await createFlashSaleService({ domain, logger, internalSecret: config.INTERNAL_SECRET });
  const port = await service.listen(0, "127.0.0.1");
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    domain,
    close: async () => {
      await service.close();
      await workers.close();
      await domain.publisher.close();
      subscriber.disconnect();
    },
  };
}

export type FlashStack = Awaited<ReturnType<typeof startFlashSaleSubgraph>>;
