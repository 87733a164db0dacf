import type { Logger } from "../../../common/logger.ts";
import type { FlashSaleDomain } from "./domain.ts";

export interface FlashWorkersOptions {
  domain: FlashSaleDomain;
  logger: Logger;
  /** FLASH_END_INTERVAL_MS; 0 leaves ending to the caller (tests call `endDue`). */
  endIntervalMs: number;
  /** FLASH_WARMUP_INTERVAL_MS; 0 turns the periodic pass off (warm-up at creation and on demand remain). */
  warmUpIntervalMs: number;
  /** How long after its end a sale's items are still drained of late releases (RESERVATION_TTL plus a margin). */
  drainWindowMs: number;
}

/**
 * The flash-sale subgraph's background work: the end loop and the warm-up pass. The writer of its orders runs in
 * the order process (subgraphs/order/src/flash/order-consumer.ts), off the purchase path.
 */
export async function startFlashWorkers(options: FlashWorkersOptions): Promise<{ close: () => Promise<void> }> {
  const { domain, logger } = options;
  const log = logger.child({ component: "flash-workers" });
  const started: { close: () => Promise<unknown> }[] = [];
  const close = async () => void (await Promise.all(started.map((w) => w.close())));
  try {
    if (options.endIntervalMs > 0) started.push(domain.ender.start(options.endIntervalMs, options.drainWindowMs));
    if (options.warmUpIntervalMs > 0) {
      const pass = () => domain.warmUp.warmAll().catch((error) => log.warn({ err: error }, "warm-up pass failed"));
      let running: Promise<unknown> = pass();
      const timer = setInterval(() => {
        running = running.then(pass);
      }, options.warmUpIntervalMs);
      started.push({ close: async () => (clearInterval(timer), await running) });
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { close };
}
