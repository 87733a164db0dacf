import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { defineScript } from "../../../common/redis.ts";
import { stockKey, type StockCounters } from "../../../common/stock.ts";
import { appError, ErrorCode, notFound } from "../../../common/errors.ts";
import { createEvent, stockChanged, type FlashSaleEvent } from "../../../common/events.ts";
import { enqueue } from "../../../common/outbox.ts";
import type { CreateFlashSaleInput } from "./input.ts";
import { withItems, type SaleRecord } from "./sales.ts";
import type { WarmUp } from "./warm-up.ts";
import { saleState } from "./state.ts";

export interface CreateSaleDeps {
  prisma: PrismaClient;
  redis: Redis;
  counters: StockCounters;
  warmUp: WarmUp;
  logger: Logger;
  now: () => number;
}

const outOfStock = (productId: string, available: number) =>
  appError(ErrorCode.OUT_OF_STOCK, `Not enough regular stock of product ${productId} for the sale; nothing was changed.`, { productId, available });

/**
 * createFlashSale moves each item's quantity out of the product's REGULAR available stock, so regular checkout
 * can never sell it and the sale can never sell more: first in Redis (lua/flash_take_stock.lua checks every
 * product, then takes from all), then in one PostgreSQL transaction (sale, items, stock rows, StockChanged
 * "transfer" and FlashSaleChanged events); if that fails, the Redis units go back. Then the items are warmed
 * up in Redis, before startsAt.
 */
export function createCreateSale(deps: CreateSaleDeps) {
  const { prisma, counters } = deps;
  const takeScript = defineScript(deps.redis, "flash_take_stock");
  const log = deps.logger.child({ component: "create-flash-sale" });

  async function takeRegularStock(items: CreateFlashSaleInput["items"]): Promise<void> {
    const keys = items.map((i) => stockKey(i.productId));
    const quantities = items.map((i) => i.quantity);
    for (let attempt = 1; ; attempt++) {
      const reply = (await takeScript(keys, quantities)) as (string | number)[];
      if (reply[0] === "ok") return;
      if (reply[0] === "short") throw outOfStock(items[Number(reply[1]) - 1]!.productId, Number(reply[2]));
      if (reply[0] !== "not_loaded" || attempt > 1) throw new Error(`flash_take_stock.lua answered ${JSON.stringify(reply)}`);
      await counters.loadFromDatabase(reply.slice(1).map((i) => items[Number(i) - 1]!.productId));
    }
  }

  async function giveBack(items: CreateFlashSaleInput["items"]): Promise<void> {
    for (const i of items) await counters.compensate(i.productId, { available: -i.quantity, reserved: 0, sold: 0 });
  }

  return async function createSale(input: CreateFlashSaleInput): Promise<SaleRecord> {
    const products = await prisma.product.findMany({ where: { id: { in: input.items.map((i) => i.productId) } }, select: { id: true } });
    if (products.length < input.items.length) throw notFound("Product");
    await takeRegularStock(input.items);
    const id = randomUUID();
    let sale: SaleRecord;
    try {
      sale = await prisma.$transaction(async (tx) => {
        const created = await tx.flashSale.create({
          data: {
            id,
            name: input.name,
            startsAt: input.startsAt,
            endsAt: input.endsAt,
            perUserLimit: input.perUserLimit,
            items: {
              createMany: { data: input.items.map((i) => ({ productId: i.productId, salePriceCents: i.salePriceCents, quantity: i.quantity })) },
            },
          },
          include: withItems,
        });
        // Items are sorted by product id: stock rows are locked in that order, like every other stock write.
        for (const item of input.items) {
          const rows = await tx.$queryRaw<{ available: number; reserved: number; sold: number; version: number }[]>`
            UPDATE stock SET available = available - ${item.quantity}, updated_at = now()
            WHERE product_id = ${item.productId}::uuid AND available >= ${item.quantity}
            RETURNING available, reserved, sold, version`;
          if (!rows[0]) {
            const row = await tx.stock.findUnique({ where: { productId: item.productId }, select: { available: true } });
            throw outOfStock(item.productId, row?.available ?? 0);
          }
          await enqueue(tx, "inventory", stockChanged({ productId: item.productId, ...rows[0] }, "transfer", -item.quantity));
        }
        await enqueue(
          tx,
          "flash-sale",
          createEvent<FlashSaleEvent>("FlashSaleChanged", id, {
            saleId: id,
            state: saleState({ ...input, endedAt: null }, deps.now()),
            reason: "created",
            items: input.items.map((i) => ({ productId: i.productId, quantity: i.quantity, returned: 0 })),
          }),
        );
        return created;
      });
    } catch (error) {
      await giveBack(input.items);
      throw error;
    }
    // A failure here is repaired by the warm-up pass (and on demand by the first purchase).
    await deps.warmUp.warmSale(sale, { fresh: true }).catch((error) => log.warn({ err: error, saleId: id }, "sale created but not warmed up yet"));
    return sale;
  };
}
