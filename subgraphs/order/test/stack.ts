import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { Config } from "../../../common/config.ts";
import type { Logger } from "../../../common/logger.ts";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Redis } from "../../../common/redis.ts";
import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { createOrderDomain } from "../src/domain.ts";
import { createOrderService } from "../src/server.ts";
import { startOrderWorkers } from "../src/workers.ts";
import { startFlashOrderWriter } from "../src/flash/order-consumer.ts";
import { createDevPaymentProvider } from "../src/dev-payment-provider.ts";
import { createMailer } from "../src/mailer.ts";
import type { PaymentProvider } from "../src/payments.ts";
import { WEBHOOK_PATH } from "../src/webhook.ts";
import { createEventHub } from "../../../common/event-hub.ts";

export interface OrderStackOptions {
  /** Also run the payment worker, the saga consumers and notifications (default false: no Kafka groups). */
  workers?: boolean;
  /**
   * Also run the flash order writer, as the order service does (default false). Its consumer group is the stack's
   * own and starts now, so it writes this stack's flash purchases without replaying the topic's history.
   */
  flashWriter?: boolean;
  /** Default: RESERVATION_TTL_SECONDS. */
  reservationTtlSeconds?: number;
  /** Default: RESERVATION_ORPHAN_GRACE_SECONDS. */
  orphanGraceSeconds?: number;
  /** Default: RESERVATION_MAX_UNITS_PER_USER (50); a test that holds more units as one user raises it here. */
  maxUnitsPerUser?: number;
  /** The order clock (default `Date.now`). */
  now?: () => number;
  /** Default: the development provider with no latency. */
  provider?: PaymentProvider;
  /** Where notification mails are written (default: `<tmp>/flashgraph-test-mail`, shared by test processes). */
  mailDir?: string;
}

export interface OrderStackDeps {
  prisma: PrismaClient;
  redis: Redis;
  kafka: KafkaContext;
  producer: Producer;
  logger: Logger;
  config: Config;
}

/**
 * The order subgraph on a free port, for tests. Each one gets its own expiry index, so a test that moves its
 * clock forward or runs two sweepers only ever sweeps its own reservations. Sweeping is left to the test
 * (`domain.sweeper.sweepOnce()`), never a timer.
 */
export async function startOrderSubgraph(deps: OrderStackDeps, options: OrderStackOptions = {}) {
  const { config, logger } = deps;
  const domain = createOrderDomain({
    prisma: deps.prisma,
    redis: deps.redis,
    logger,
    reservationTtlSeconds: options.reservationTtlSeconds ?? config.RESERVATION_TTL_SECONDS,
    tombstoneSeconds: config.RESERVATION_TOMBSTONE_SECONDS,
    orphanGraceSeconds: options.orphanGraceSeconds ?? config.RESERVATION_ORPHAN_GRACE_SECONDS,
    maxUnitsPerUser: options.maxUnitsPerUser ?? config.RESERVATION_MAX_UNITS_PER_USER,
    expiryIndex: `{stock}:reservations:expiry:test-${randomUUID()}`,
    now: options.now,
  });
  const aggregator = domain.stockAggregator.start();
  const hub = await createEventHub({ ctx: deps.kafka, topics: ["order"], service: "order-test", logger });
  const service = await createOrderService({
    domain,
    logger,
    internalSecret: config.INTERNAL_SECRET,
    webhookSecret: config.PAYMENT_WEBHOOK_SECRET,
    hub,
  });
  const port = await service.listen(0, "127.0.0.1");
  // One directory for every test process: whichever process's consumer mails an order, the test finds it by order id.
  const mailDir = options.mailDir ?? path.join(tmpdir(), "flashgraph-test-mail");
  const mailer = createMailer({ from: config.MAIL_FROM, smtpUrl: "", mailDir });
  const workers = options.workers
    ? await startOrderWorkers({
        domain,
        ctx: deps.kafka,
        producer: deps.producer,
        logger,
        provider: options.provider ?? createDevPaymentProvider({ latencyMs: 0 }),
        mailer,
        recipientDomain: config.MAIL_RECIPIENT_DOMAIN,
        sweepIntervalMs: 0,
      })
    : null;
  const flashWriter = options.flashWriter
    ? await startFlashOrderWriter({
        ctx: deps.kafka,
        producer: deps.producer,
        prisma: deps.prisma,
        redis: deps.redis,
        logger,
        groupId: deps.kafka.topic(`flash-order-writer-${randomUUID()}`),
        batchSize: config.FLASH_ORDER_BATCH_SIZE,
        startAt: "now",
      })
    : null;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    webhookUrl: `http://127.0.0.1:${port}${WEBHOOK_PATH}`,
    domain,
    mailDir,
    close: async () => {
      await flashWriter?.close();
      await workers?.close();
      await service.close();
      await aggregator.close();
      await hub.close();
      await mailer.close();
      // The index is this stack's alone; reservations left in it expire through the database pass of any sweeper.
      await deps.redis.del(domain.reservations.index);
    },
  };
}

export type OrderStack = Awaited<ReturnType<typeof startOrderSubgraph>>;
