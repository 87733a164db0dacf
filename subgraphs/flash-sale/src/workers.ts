import type { Logger } from "../../../common/logger.ts";
import { startFlashOrderWriter } from "./order-consumer.ts";
import type { FlashSaleDomain } from "./domain.ts";
import type { KafkaContext, Producer } from "../../../common/kafka.ts";

export interface FlashWorkersOptions {
  domain: FlashSaleDomain;
  ctx: KafkaContext;
  producer: Producer;
  logger: Logger;
  /** FLASH_ORDER_BATCH_SIZE. */
  batchSize: number;
  /** FLASH_END_INTERVAL_MS; 0 leaves ending to the caller (tests call `endDue`). */
  endIntervalMs: number;
  /** FLASH_WARMUP_INTERVAL_MS; 0 turns the periodic pass off (warm-up at creation and on demand remain). */
  warmUpIntervalMs: number;
  /** How long after its end a sale's items are still drained of late releases (RESERVATION_TTL plus a margin). */
  drainWindowMs: number;
  /** Run the order writer (default true). */
  writer?: boolean;
  /** The writer's consumer group (default `<prefix>flash-order-writer`) and where a new group starts (default earliest). */
  writerGroup?: string;
  writerStartAt?: "earliest" | "now";
}

/** The flash-sale subgraph's background work: the order writer, the end loop and the warm-up pass. */
export async function startFlashWorkers(options: FlashWorkersOptions): Promise<{ close: () => Promise<void> }> {
  const { domain, logger } = options;
  const log = logger.child({ component: "flash-workers" });
  const started: { close: () => Promise<unknown> }[] = [];
  const close = async () => void (await Promise.all(started.map((w) => w.close())));
  try {
    if (options.writer ?? true) {
      started.push(
        await startFlashOrderWriter({ ctx: options.ctx, producer: options.producer, prisma: domain.prisma, logger, groupId: options.writerGroup, batchSize: options.batchSize, startAt: options.writerStartAt }),
      );
    }
    if (options.endIntervalMs > 0) started.push(domain.ender.start(options.endIntervalMs, options.drainWindowMs));
    if (options.warmUpIntervalMs > 0) {
      const pass = () => domain.warmUp.warmAll().catch((error) => log.warn({ err: error }, "warm-up pass failed"));
      let running: Promise<unknown> = pass();
      const timer = setInterval(() => (running = running.then(pass)), options.warmUpIntervalMs);
      started.push({ close: async () => (clearInterval(timer), await running) });
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { close };
}
