// Runs in the order process (main.ts): it writes the order subgraph's tables, and in flash-sale's process its
// batches lengthened the pauses every purchase waits through (docs/flash-sales.md, Persistence).

import { z } from "zod";
import type { Redis } from "ioredis";
import type { KafkaContext, Producer } from "../../../../common/kafka/client.ts";
import { runConsumer } from "../../../../common/kafka/consumer.ts";
import { PermanentEventError, type RetryPolicy } from "../../../../common/kafka/retry.ts";
import type { Logger } from "../../../../common/logger.ts";
import type { PrismaClient } from "../../../../common/prisma.ts";
import type { FlashOrderEvent, FlashOrderPlaced } from "../../../../common/events.ts";
import { InfrastructureError } from "../../../../common/errors.ts";
import { createFlashFence } from "../../../../common/orders/flash-fence.ts";
import { createFlashRebuild } from "../../../../common/orders/flash-rebuild.ts";
import { writeFenced } from "./fenced-write.ts";

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
  /** Where the sale items' reservations are: every order passes the fence (lua/flash_fence.lua) before it is written. */
  redis: Redis;
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
  /**
   * Registry of the items' expiry sets, for items the writer reloads after a Redis loss (default: the connected
   * database's, as the order sweeper reads it in production).
   */
  registry?: string;
  /** RESERVATION_TOMBSTONE_SECONDS (default: the setting's default, 259 200). */
  tombstoneSeconds?: number;
}

/** Reloads of one batch's items before it waits (backoff) as a transient failure: Redis is losing data again and again. */
const MAX_RELOADS = 3;

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
 * Before writing, each order passes the fence in Redis: an order whose purchase was taken back (its event timed
 * out and landed late) is skipped, every other one is marked durable so it can no longer be taken back. A Redis
 * failure there is transient like a database one: the batch waits.
 * After a Redis loss, an order whose item Redis does not have yet makes the writer reload that item from
 * PostgreSQL itself (common/orders/flash-rebuild.ts), then pass the fence again: adopted into the item if units
 * remain, written CANCELLED if not (docs/flash-sales.md, Warm-up and what Redis loss means).
 */
export async function startFlashOrderWriter(options: FlashOrderWriterOptions): Promise<{ close: () => Promise<void> }> {
  const { prisma, batchSize } = options;
  const fence = createFlashFence(options.redis, { tombstoneSeconds: options.tombstoneSeconds });
  const rebuild = createFlashRebuild(options.redis, prisma, { registry: options.registry, tombstoneSeconds: options.tombstoneSeconds });
  const log = options.logger.child({ component: "flash-order-writer" });
  const itemOf = (saleId: string, productId: string) => `${saleId} ${productId}`;

  const writeAll = async (events: FlashOrderEvent[]) => {
    let pending = events.map(orderOf);
    // Items whose sale is not live: never reloaded, so their orders are written as they are when Redis lost them.
    const notLive = new Set<string>();
    for (let reloads = 0; pending.length > 0; reloads++) {
      if (reloads > MAX_RELOADS) throw new InfrastructureError("flash sale items keep disappearing from Redis; the batch waits", true);
      const unloaded: FlashOrderPlaced[] = [];
      for (let i = 0; i < pending.length; i += batchSize) {
        const slice = pending.slice(i, i + batchSize);
        const outcome = await writeFenced(prisma, fence, slice, (saleId, productId) => notLive.has(itemOf(saleId, productId)));
        const decided = new Set([...outcome.write, ...outcome.cancel, ...outcome.unloaded]);
        const skipped = slice.filter((p) => !decided.has(p)).map((p) => p.orderId);
        if (skipped.length > 0) log.info({ skipped }, "skipped flash orders whose purchases were taken back");
        if (outcome.cancel.length > 0)
          log.warn(
            { cancelled: outcome.cancel.map((p) => p.orderId) },
            "flash orders accepted before a Redis loss found their sale sold out; written CANCELLED",
          );
        unloaded.push(...outcome.unloaded);
      }
      pending = unloaded;
      for (const item of new Set(unloaded.map((p) => itemOf(p.saleId, p.productId)))) {
        const [saleId, productId] = item.split(" ") as [string, string];
        const result = await rebuild.loadItem(saleId, productId);
        if (result === "not_live" || result === "no_item") notLive.add(item);
        else log.warn({ saleId, productId, result }, "reloaded a flash sale item Redis had lost before writing its orders");
      }
    }
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
