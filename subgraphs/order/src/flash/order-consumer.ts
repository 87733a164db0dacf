// Runs in the order process (main.ts): it writes the order subgraph's tables, and in flash-sale's process its
// batches lengthened the pauses every purchase waits through (docs/flash-sales.md, Persistence).

import { z } from "zod";
import type { KafkaContext, Producer } from "../../../../common/kafka/client.ts";
import { runConsumer } from "../../../../common/kafka/consumer.ts";
import { PermanentEventError, type RetryPolicy } from "../../../../common/kafka/retry.ts";
import type { Logger } from "../../../../common/logger.ts";
import type { PrismaClient } from "../../../../common/prisma.ts";
import type { FlashOrderEvent, FlashOrderPlaced } from "../../../../common/events.ts";
import { writeFlashOrders } from "./order-writer.ts";

const id = z.string().uuid();
const placedEvent = z.object({
  id,
  type: z.literal("FlashOrderPlaced"),
  data: z.object({
    orderId: id,
    userId: z.string().min(1),
    idempotencyKey: z.string().min(1),
    requestHash: z.string().length(64),
    saleId: id,
    productId: id,
    quantity: z.number().int().min(1),
    unitPriceCents: z.number().int().min(0),
    currency: z.string().length(3),
    reservedUntil: z.string().datetime(),
    createdAt: z.string().datetime(),
  }),
});

/** The order in a FlashOrderPlaced event, or PermanentEventError naming the first field that is wrong. */
function orderOf(event: FlashOrderEvent): FlashOrderPlaced {
  const parsed = placedEvent.safeParse(event);
  if (parsed.success) return parsed.data.data;
  const issue = parsed.error.issues[0];
  throw new PermanentEventError(`not a FlashOrderPlaced event: ${issue?.path.join(".")}: ${issue?.message}`);
}

export interface FlashOrderWriterOptions {
  ctx: KafkaContext;
  producer: Producer;
  prisma: PrismaClient;
  logger: Logger;
  /** The consumer group (default `<prefix>flash-order-writer`; test stacks use one of their own). */
  groupId?: string;
  /** Orders per PostgreSQL statement (FLASH_ORDER_BATCH_SIZE, seed 002: 100). */
  batchSize: number;
  /**
   * Where a new group starts: "earliest" (default; nothing is ever skipped) or "now", for test stacks that each
   * use a group of their own and must not replay the topic's history (their own events come after the start).
   */
  startAt?: "earliest" | "now";
  /** Backoff and attempts (default: the context's, KAFKA_CONSUMER_RETRY_*). */
  retry?: Partial<RetryPolicy>;
}

/**
 * Writes FlashOrderPlaced events to PostgreSQL in batches (up to `batchSize` orders per statement; after a fetch
 * that brought orders it waits 200 ms before the next, to gather more), through `runConsumer`, so it fails as every
 * consumer does (docs/failure-modes.md):
 * - the database failing (unreachable, restarting, timing out) fails the whole fetched batch, which waits with its
 *   partition paused and is written again after the backoff, for as long as the outage lasts: no order is dropped;
 * - any other failure of a batch writes its orders one at a time, so the one that cannot be written (a message that
 *   is not a valid event, a value PostgreSQL refuses) goes to the dead-letter topic alone and the rest are written.
 * Offsets are resolved only after their orders are written and committed at most once a second; the write is
 * idempotent, so a crash, rebalance or retry re-writes orders harmlessly.
 */
export async function startFlashOrderWriter(options: FlashOrderWriterOptions): Promise<{ close: () => Promise<void> }> {
  const { prisma, batchSize } = options;
  const writeAll = async (events: FlashOrderEvent[]) => {
    const orders = events.map(orderOf);
    for (let i = 0; i < orders.length; i += batchSize) await writeFlashOrders(prisma, orders.slice(i, i + batchSize));
  };
  return runConsumer({
    ctx: options.ctx,
    producer: options.producer,
    groupId: options.groupId ?? options.ctx.topic("flash-order-writer"),
    topics: ["flash-order"],
    logger: options.logger,
    retry: options.retry,
    fromNow: options.startAt === "now",
    concurrency: 3,
    lingerMs: 200,
    handleBatch: writeAll,
    handle: (event) => writeAll([event]),
  });
}
