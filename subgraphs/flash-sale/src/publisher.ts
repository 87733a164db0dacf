import type { KafkaContext, Producer } from "../../../common/kafka/client.ts";
import { publish } from "../../../common/kafka/publish.ts";
import { withTimeout } from "../../../common/service.ts";
import type { FlashOrderEvent } from "../../../common/events.ts";

export interface FlashOrderPublisherOptions {
  ctx: KafkaContext;
  producer: Producer;
  /** How long to gather events before a send, in ms (FLASH_PUBLISH_LINGER_MS). */
  lingerMs: number;
  /** Events per Kafka request at most (default 500). */
  maxBatch?: number;
  /**
   * A send not acknowledged by then counts as failed (FLASH_PUBLISH_TIMEOUT_MS, default 5 000 ms). kafkajs may
   * still deliver it later: the purchase then takes its reservation back through the fence (purchase.ts).
   */
  timeoutMs?: number;
}

/**
 * Group commit for purchases: events that arrive while one Kafka request is in flight (or within the linger)
 * go out together in the next one, and each purchase resolves when ITS request was acknowledged by every
 * replica (acks -1). The shared producer has one request in flight per broker; without this, purchases would
 * queue one Kafka round trip each.
 */
export function createFlashOrderPublisher(options: FlashOrderPublisherOptions) {
  const maxBatch = options.maxBatch ?? 500;
  const queue: { event: FlashOrderEvent; resolve: () => void; reject: (error: unknown) => void }[] = [];
  let sending = false;
  let timer: NodeJS.Timeout | null = null;

  const schedule = () => {
    // flush settles every queued publish itself and never rejects.
    if (!sending && !timer) timer = setTimeout(() => void flush(), options.lingerMs);
  };

  async function flush() {
    timer = null;
    if (sending || queue.length === 0) return;
    sending = true;
    const batch = queue.splice(0, maxBatch);
    try {
      const sent = publish(
        options.ctx,
        options.producer,
        "flash-order",
        batch.map((b) => b.event),
      );
      await withTimeout(sent, options.timeoutMs ?? 5_000, "publishing flash orders");
      for (const b of batch) b.resolve();
    } catch (error) {
      for (const b of batch) b.reject(error);
    } finally {
      sending = false;
      if (queue.length > 0) schedule();
    }
  }

  return {
    /** Resolves once the event is on Kafka; rejects if the send failed or timed out. */
    publish: (event: FlashOrderEvent) =>
      new Promise<void>((resolve, reject) => {
        queue.push({ event, resolve, reject });
        schedule();
      }),
    close: async () => {
      if (timer) clearTimeout(timer);
      timer = null;
      while (queue.length > 0 || sending) {
        if (!sending) await flush();
        else await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

export type FlashOrderPublisher = ReturnType<typeof createFlashOrderPublisher>;
