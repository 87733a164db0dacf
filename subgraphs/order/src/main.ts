import { loadConfig } from "../../../common/config.ts";
import { subgraphEdgeFrom } from "../../../common/operation-limits-config.ts";
import { createLogger } from "../../../common/logger.ts";
import { createLifecycle } from "../../../common/runtime.ts";
import { connectInfra } from "../../../common/infra.ts";
import { createOrderDomain } from "./domain.ts";
import { createOrderService } from "./server.ts";
import { startOrderWorkers } from "./workers.ts";
import { createDevPaymentProvider } from "./dev-payment-provider.ts";
import { createMailer } from "./mailer.ts";
import { expiryIndexFor } from "../../../common/orders/reservation-keys.ts";
import { createEventHub } from "../../../common/event-hub.ts";
import { startFlashOrderWriter } from "./flash/order-consumer.ts";

const config = loadConfig();
const logger = createLogger("order", config.LOG_LEVEL);
const lifecycle = createLifecycle(logger);

await lifecycle.run(async () => {
  const infra = await connectInfra(config, logger, lifecycle, "order", { redis: true, relay: "preferred" });
  const domain = createOrderDomain({
    prisma: infra.prisma,
    redis: infra.redis!,
    logger,
    reservationTtlSeconds: config.RESERVATION_TTL_SECONDS,
    tombstoneSeconds: config.RESERVATION_TOMBSTONE_SECONDS,
    orphanGraceSeconds: config.RESERVATION_ORPHAN_GRACE_SECONDS,
    maxUnitsPerUser: config.RESERVATION_MAX_UNITS_PER_USER,
    paymentHoldSeconds: config.PAYMENT_HOLD_SECONDS,
    expiryIndex: expiryIndexFor(config.DATABASE_URL),
  });
  lifecycle.add("stock-aggregator", domain.stockAggregator.start(), (a) => a.close());
  const mailer = lifecycle.add("mailer", createMailer({ from: config.MAIL_FROM, smtpUrl: config.SMTP_URL, mailDir: config.MAIL_DIR }), (m) =>
    m.close(),
  );
  const workers = await startOrderWorkers({
    domain,
    ctx: infra.kafka,
    producer: infra.producer,
    logger,
    provider: createDevPaymentProvider({ latencyMs: config.PAYMENT_LATENCY_MS, ledger: infra.prisma }),
    providerTimeoutMs: config.PAYMENT_PROVIDER_TIMEOUT_MS,
    mailer,
    recipientDomain: config.MAIL_RECIPIENT_DOMAIN,
    sweepIntervalMs: config.EXPIRY_SWEEP_INTERVAL_MS,
  });
  lifecycle.add("workers", workers, (w) => w.close());
  // The flash-sale order writer (FlashOrderPlaced -> orders, 100 per statement) runs here, off the purchase path:
  // in flash-sale its batches outlived young collections and lengthened the pauses every purchase waits through
  // (docs/flash-sales.md, Persistence). It writes the order subgraph's tables, so this is also where it belongs.
  const flashWriter = await startFlashOrderWriter({
    ctx: infra.kafka,
    producer: infra.producer,
    prisma: infra.prisma,
    redis: infra.redis!,
    logger,
    batchSize: config.FLASH_ORDER_BATCH_SIZE,
  });
  lifecycle.add("flash-order-writer", flashWriter, (w) => w.close());
  const hub = lifecycle.add("event-hub", await createEventHub({ ctx: infra.kafka, topics: ["order"], service: "order", logger }), (h) => h.close());
  const service = await createOrderService({
    edge: subgraphEdgeFrom(config),
    domain,
    logger,
    internalSecret: config.INTERNAL_SECRET,
    webhookSecret: config.PAYMENT_WEBHOOK_SECRET,
    readiness: infra.readiness,
    hub,
  });
  lifecycle.add("http", service, (s) => s.close());
  const port = await service.listen(config.ORDER_PORT, config.SUBGRAPH_HOST);
  logger.info({ port, mail: config.SMTP_URL ? "smtp" : config.MAIL_DIR }, "order subgraph listening");
});
