import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import type { Logger } from "../../../common/logger.ts";
import type { OrderDomain } from "./domain.ts";
import type { PaymentProvider } from "./payments.ts";
import type { Mailer } from "./mailer.ts";
import { startPaymentWorker } from "./payment-worker.ts";
import { startPaymentOutcomes } from "./payment-outcomes.ts";
import { startFulfilment } from "./fulfilment.ts";
import { startNotifications } from "./notifications.ts";
import { startReservationSettlement } from "./reservation-settlement.ts";

export interface OrderWorkersDeps {
  domain: OrderDomain;
  ctx: KafkaContext;
  producer: Producer;
  logger: Logger;
  provider: PaymentProvider;
  /** Longest a provider call may take, in ms (PAYMENT_PROVIDER_TIMEOUT_MS; default 10 000). */
  providerTimeoutMs?: number;
  mailer: Mailer;
  recipientDomain: string;
  /** EXPIRY_SWEEP_INTERVAL_MS; 0 leaves sweeping to the caller (tests call `sweepOnce`). */
  sweepIntervalMs: number;
}

/**
 * The order subgraph's background work: one consumer group per job (a stuck mailer never holds up payments)
 * and the expiry sweeper. They are independent of each other, so closing stops them all at once.
 */
export async function startOrderWorkers(deps: OrderWorkersDeps): Promise<{ close: () => Promise<void> }> {
  const { domain, ctx, producer, logger } = deps;
  const started: { close: () => Promise<unknown> }[] = [];
  // In parallel: each kafkajs consumer waits out its current fetch (up to 1 s) before it leaves its group.
  const close = async () => void (await Promise.all(started.map((worker) => worker.close())));
  try {
    if (deps.sweepIntervalMs > 0) started.push(domain.sweeper.start(deps.sweepIntervalMs));
    started.push(
      await startPaymentWorker({ ctx, producer, prisma: domain.prisma, logger, provider: deps.provider, providerTimeoutMs: deps.providerTimeoutMs }),
    );
    started.push(await startPaymentOutcomes({ ctx, producer, logger, transitions: domain.transitions, now: domain.now }));
    started.push(await startFulfilment({ ctx, producer, logger, transitions: domain.transitions }));
    started.push(await startReservationSettlement({ ctx, producer, logger, transitions: domain.transitions }));
    started.push(
      await startNotifications({ ctx, producer, prisma: domain.prisma, logger, mailer: deps.mailer, recipientDomain: deps.recipientDomain }),
    );
  } catch (error) {
    await close();
    throw error;
  }
  return { close };
}
