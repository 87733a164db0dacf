import { v5 as uuidv5 } from "uuid";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import type { StockCounters } from "../../../common/stock.ts";
import { createEvent, stockChanged, type FlashSaleEvent } from "../../../common/events.ts";
import { enqueue } from "../../../common/outbox.ts";
import { notFound } from "../../../common/errors.ts";
import { markProcessed } from "../../../common/processed.ts";
import type { SaleStock } from "./sale-stock.ts";
import type { SaleReader, SaleRecord } from "./sales.ts";
import { runPeriodically } from "../../../common/periodic.ts";

/** Namespace of drain ids; each (sale, product, drain number) names one return of units, applied once. */
const DRAIN_NAMESPACE = "3f1d7c52-8a0e-5b7f-a2c4-6e9b1d0f4a73";
const RETURNS = "flash-sale-returns";

export interface EndSaleDeps {
  prisma: PrismaClient;
  stock: SaleStock;
  counters: StockCounters;
  sales: SaleReader;
  logger: Logger;
  now: () => number;
}

/**
 * Ending a sale, early (endFlashSale) or at endsAt (the end loop), on any number of instances at once:
 * 1. every item is marked ended in Redis, so the purchase script refuses it from then on;
 * 2. PostgreSQL's ended_at is set by a conditional update, so it and its FlashSaleChanged event happen once;
 * 3. each item's unsold units are drained (lua/flash_drain.lua) and returned to regular stock under a numbered
 *    drain id that PostgreSQL records in processed_events, so every unit goes back exactly once.
 * Units released by flash orders after the end land in the item's `remaining` and go back by the next drain.
 */
export function createSaleEnder(deps: EndSaleDeps) {
  const { prisma, stock, counters } = deps;
  const log = deps.logger.child({ component: "flash-sale-end" });

  /** Applies one drain to PostgreSQL and the regular Redis counters, once; returns the units it returned. */
  async function applyDrain(saleId: string, productId: string, seq: number, units: number): Promise<number> {
    const delta = { available: units, reserved: 0, sold: 0 };
    let redisApplied = false;
    try {
      const applied = await prisma.$transaction(async (tx) => {
        if (!(await markProcessed(tx, RETURNS, uuidv5(`${saleId}:${productId}:${seq}`, DRAIN_NAMESPACE)))) return false;
        await tx.$executeRaw`
          UPDATE flash_sale_items SET returned_quantity = returned_quantity + ${units}
          WHERE sale_id = ${saleId}::uuid AND product_id = ${productId}::uuid`;
        const [row] = await tx.$queryRaw<{ available: number; reserved: number; sold: number; version: number }[]>`
          UPDATE stock SET available = available + ${units}, updated_at = now() WHERE product_id = ${productId}::uuid
          RETURNING available, reserved, sold, version`;
        if (!row) throw new Error(`product ${productId} has no stock row`);
        await enqueue(tx, "inventory", stockChanged({ productId, ...row }, "transfer", units));
        redisApplied = (await counters.adjustInTransaction(tx, productId, delta)) !== null;
        return true;
      });
      return applied ? units : 0;
    } catch (error) {
      if (redisApplied) await counters.compensate(productId, delta);
      throw error;
    }
  }

  /** Returns what the item has unsold (and any drain a crash left pending); the units it returned. */
  async function drainItem(saleId: string, productId: string): Promise<number> {
    let returned = 0;
    for (;;) {
      const drain = await stock.drain(saleId, productId);
      if (drain.kind !== "drain") return returned;
      returned += await applyDrain(saleId, productId, drain.seq, drain.units);
      await stock.drainAck(saleId, productId, drain.seq);
    }
  }

  /** Ends the sale everywhere (idempotent); returns the units this call gave back. */
  async function endSale(sale: SaleRecord): Promise<number> {
    for (const item of sale.items) await stock.end(sale.id, item.productId);
    const at = new Date(Math.min(deps.now(), sale.endsAt.getTime()));
    await prisma.$transaction(async (tx) => {
      const changed = await tx.$executeRaw`UPDATE flash_sales SET ended_at = ${at} WHERE id = ${sale.id}::uuid AND ended_at IS NULL`;
      if (changed === 0) return;
      await enqueue(
        tx,
        "flash-sale",
        createEvent<FlashSaleEvent>("FlashSaleChanged", sale.id, {
          saleId: sale.id,
          state: "ENDED",
          reason: "ended",
          items: sale.items.map((i) => ({ productId: i.productId, quantity: i.quantity, returned: i.returnedQuantity })),
        }),
      );
    });
    let returned = 0;
    for (const item of sale.items) returned += await drainItem(sale.id, item.productId);
    return returned;
  }

  return {
    drainItem,

    /** endFlashSale: ends the sale now (idempotent) and answers it as it is afterwards. */
    async end(saleId: string): Promise<SaleRecord> {
      const sale = await deps.sales.find(saleId);
      if (!sale) throw notFound("Flash sale");
      await endSale(sale);
      return (await deps.sales.find(saleId))!;
    },

    /** One pass of the end loop: ends overdue sales, then drains recently ended ones (late releases). */
    async endDue(recentMs: number): Promise<{ ended: number; returned: number }> {
      const now = new Date(deps.now());
      const overdue = await deps.sales.overdue(now);
      let returned = 0;
      for (const sale of overdue) returned += await endSale(sale);
      for (const sale of await deps.sales.endedSince(new Date(now.getTime() - recentMs), now)) {
        for (const item of sale.items) {
          try {
            returned += await drainItem(sale.id, item.productId);
          } catch (error) {
            log.warn({ err: error, saleId: sale.id, productId: item.productId }, "could not return flash units; next pass retries");
          }
        }
      }
      return { ended: overdue.length, returned };
    },

    /** Runs `endDue` every `intervalMs` until closed. */
    start(intervalMs: number, recentMs: number): { close: () => Promise<void> } {
      return runPeriodically(() => this.endDue(recentMs), intervalMs, log, "end pass");
    },
  };
}

export type SaleEnder = ReturnType<typeof createSaleEnder>;
