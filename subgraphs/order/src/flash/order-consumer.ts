// Runs in the order process (main.ts): it writes the order subgraph's tables, and in flash-sale's process its
// batches lengthened the pauses every purchase waits through (docs/flash-sales.md, Persistence).

import { z } from "zod";
import type { KafkaMessage } from "kafkajs";
import type { KafkaContext, Producer } from "../../../../common/kafka/client.ts";
import { createConsumer, runBatches } from "../../../../common/kafka/consumer.ts";
import type { Logger } from "../../../../common/logger.ts";
import type { PrismaClient } from "../../../../common/prisma.ts";
import { dlqTopic, type FlashOrderPlaced } from "../../../../common/events.ts";
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
  /** Attempts of a failing batch before its orders are written one by one to find the poison (default 5). */
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Writes FlashOrderPlaced events to PostgreSQL in batches (kafkajs `eachBatch`, up to `batchSize` orders per
 * statement; after a fetch that brought orders it waits 200 ms before the next, to gather more). Offsets are resolved
 * only after their orders are written and committed at most once a second; the write is idempotent, so a
 * crash or rebalance re-writes at most that second of batches, harmlessly. A message that is not a valid
 * event, or whose order keeps failing on its own, goes to the dead-letter topic.
 */
export async function startFlashOrderWriter(options: FlashOrderWriterOptions): Promise<{ close: () => Promise<void> }> {
  const { ctx, producer, prisma } = options;
  const sleep = options.sleep ?? realSleep;
  const maxAttempts = options.maxAttempts ?? 5;
  const topic = ctx.topic("flash-order");
  const groupId = options.groupId ?? ctx.topic("flash-order-writer");
  const log = options.logger.child({ consumer: groupId });
  const consumer = createConsumer(ctx, groupId);

  const deadLetter = (message: KafkaMessage, reason: string) => {
    log.warn({ reason, offset: message.offset }, "sending flash order to dead-letter topic");
    return producer.send({
      topic: dlqTopic(topic),
      acks: -1,
      messages: [{ key: message.key, value: message.value, headers: { "dlq-reason": reason.slice(0, 500), "dlq-group": groupId } }],
    });
  };

  function parse(message: KafkaMessage): FlashOrderPlaced | string {
    try {
      const parsed = placedEvent.safeParse(JSON.parse(message.value?.toString("utf8") ?? ""));
      return parsed.success ? parsed.data.data : `not a FlashOrderPlaced event: ${parsed.error.issues[0]?.path.join(".")}`;
    } catch {
      return "malformed JSON";
    }
  }

  async function write(chunk: KafkaMessage[], heartbeat: () => Promise<void>): Promise<void> {
    const valid: { message: KafkaMessage; order: FlashOrderPlaced }[] = [];
    for (const message of chunk) {
      const order = parse(message);
      if (typeof order === "string") await deadLetter(message, order);
      else valid.push({ message, order });
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await writeFlashOrders(
          prisma,
          valid.map((v) => v.order),
        );
        return;
      } catch (error) {
        if (attempt >= maxAttempts) break;
        log.warn({ err: error, attempt, orders: valid.length }, "flash order batch failed; retrying");
        await sleep(100 * 2 ** (attempt - 1));
        await heartbeat();
      }
    }
    // The batch keeps failing: one order at a time, so only the one that cannot be written is set aside.
    for (const { message, order } of valid) {
      try {
        await writeFlashOrders(prisma, [order]);
      } catch (error) {
        await deadLetter(message, `failed ${maxAttempts} times: ${String(error)}`);
      }
    }
  }

  const fromNow = options.startAt === "now";
  let offsets: { partition: number; offset: string }[] = [];
  if (fromNow) {
    const admin = ctx.kafka.admin();
    await admin.connect();
    offsets = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  }
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: !fromNow });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  const close = await runBatches(consumer, {
    concurrency: 3,
    lingerMs: 200,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (let i = 0; i < batch.messages.length; i += options.batchSize) {
        if (!isRunning() || isStale()) return;
        const chunk = batch.messages.slice(i, i + options.batchSize);
        await write(chunk, heartbeat);
        resolveOffset(chunk.at(-1)!.offset);
        await heartbeat();
      }
    },
  });
  for (const { partition, offset } of offsets) consumer.seek({ topic, partition, offset });
  if (fromNow) await joined;
  return { close };
}
