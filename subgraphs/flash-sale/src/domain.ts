import type { Redis } from "ioredis";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { createStockCounters } from "../../../common/stock.ts";
import { createSaleStock } from "./sale-stock.ts";
import { createPurchaseReservations } from "./purchase-reservations.ts";
import { createSaleReader } from "./sales.ts";
import { createWarmUp } from "./warm-up.ts";
import { createCreateSale } from "./create-sale.ts";
import { createSaleEnder } from "./end-sale.ts";
import { createIpLimit } from "./ip-limit.ts";
import type { AddressList } from "../../../common/client-address.ts";
import { createFlashOrderPublisher } from "./publisher.ts";
import { createPurchase } from "./purchase.ts";
import { createSaleChanges } from "./sale-changes.ts";
import { createFlashRebuild } from "../../../common/orders/flash-rebuild.ts";
import { flashPointerTtlSeconds } from "../../../common/orders/flash-keys.ts";

export interface FlashSaleDomainOptions {
  prisma: PrismaClient;
  redis: Redis;
  /** A second connection for pub/sub (subscribed connections can do nothing else); without it no subscriptions. */
  subscriber?: Redis;
  ctx: KafkaContext;
  producer: Producer;
  logger: Logger;
  /** Registry of item expiry indexes the order sweeper reads (flashRegistryFor the order expiry index). */
  registry: string;
  /** RESERVATION_TTL_SECONDS: how long a flash order holds its units unpaid. */
  reservationTtlSeconds: number;
  /** RESERVATION_TOMBSTONE_SECONDS: settled reservations and order pointers are kept this long. */
  tombstoneSeconds: number;
  /** FLASH_SALE_RATE, FLASH_SALE_BURST (0: one second's worth). */
  saleRate: number;
  saleBurst: number;
  /** FLASH_IP_RATE, FLASH_IP_BURST (0: one second's worth). */
  ipRate: number;
  ipBurst: number;
  /** RATE_LIMIT_EXEMPT: client addresses the per-IP limit skips (default none). */
  ipExempt?: AddressList;
  /** FLASH_PUBLISH_LINGER_MS. */
  publishLingerMs: number;
  /** FLASH_PUBLISH_TIMEOUT_MS (default 5 000): how long a purchase waits for its event's ack. */
  publishTimeoutMs?: number;
  /** The clock of every window and expiry decision (default Date.now); tests move it. */
  now?: () => number;
}

/** Everything the flash-sale subgraph and its background loops share, built once per process. */
export function createFlashSaleDomain(options: FlashSaleDomainOptions) {
  const { prisma, redis, logger } = options;
  const now = options.now ?? Date.now;
  const counters = createStockCounters(redis, prisma);
  const stock = createSaleStock(redis);
  const reservations = createPurchaseReservations(redis, { registry: options.registry, tombstoneSeconds: options.tombstoneSeconds });
  const sales = createSaleReader(prisma);
  const rebuild = createFlashRebuild(redis, prisma, { registry: options.registry, tombstoneSeconds: options.tombstoneSeconds, now });
  const warmUp = createWarmUp({ prisma, stock, reservations, sales, rebuild, logger, now });
  const publisher = createFlashOrderPublisher({
    ctx: options.ctx,
    producer: options.producer,
    lingerMs: options.publishLingerMs,
    timeoutMs: options.publishTimeoutMs,
  });
  return {
    now,
    prisma,
    stock,
    counters,
    reservations,
    sales,
    warmUp,
    publisher,
    createSale: createCreateSale({ prisma, redis, counters, warmUp, logger, now }),
    ender: createSaleEnder({ prisma, stock, counters, sales, logger, now }),
    purchase: createPurchase({
      redis,
      prisma,
      stock,
      reservations,
      publisher,
      ipLimit: createIpLimit({ rate: options.ipRate, burst: options.ipBurst, exempt: options.ipExempt, now }),
      warmItem: (saleId, productId) => warmUp.warmItem(saleId, productId),
      logger,
      now,
      reservationTtlSeconds: options.reservationTtlSeconds,
      pointerTtlSeconds: flashPointerTtlSeconds(options.tombstoneSeconds),
      tombstoneSeconds: options.tombstoneSeconds,
      rate: options.saleRate,
      burst: options.saleBurst > 0 ? options.saleBurst : options.saleRate,
    }),
    changes: options.subscriber ? createSaleChanges({ subscriber: options.subscriber, sales, stock, now, logger }) : null,
  };
}

export type FlashSaleDomain = ReturnType<typeof createFlashSaleDomain>;
