import { Repeater } from "@repeaterjs/repeater";
import { z } from "zod";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { EventHub } from "../../../common/event-hub.ts";
import type { VersionedStock } from "../../../common/events.ts";
import { createCoalescer } from "../../../common/coalesce.ts";
import { notFound } from "../../../common/errors.ts";
import { parseInput, uuid } from "../../../common/validation.ts";

const productIdList = z.array(uuid).min(1, "must name at least one product").max(100, "must name at most 100 products");

/** How often one product's value may be sent to one subscriber, in ms (API.md: at most every 100 ms). */
export const STOCK_COALESCE_MS = 100;

/**
 * `stockChanged`: listens before reading the committed rows, so no change between the read and the
 * listen is lost; the rows go out first, then events, coalesced and ordered by the row version.
 */
export interface StockUpdate extends VersionedStock {
  changedAt: Date;
}

export function createStockChanges(prisma: PrismaClient, hub: EventHub<"inventory">) {
  async function readRows(ids: string[]): Promise<StockUpdate[]> {
    return prisma.$queryRaw<StockUpdate[]>`
      SELECT product_id::text AS "productId", available, reserved, sold, version, updated_at AS "changedAt"
      FROM stock WHERE product_id = ANY(${ids}::uuid[])`;
  }

  return async function subscribe(rawIds: unknown): Promise<AsyncIterable<StockUpdate>> {
    const ids = [...new Set(parseInput(productIdList, rawIds, "productIds"))];
    let sink: (value: StockUpdate) => void;
    const early: StockUpdate[] = [];
    sink = (value) => early.push(value);
    const stopListening = ids.map((id) => hub.on("inventory", id, (event) => sink({ ...event.data, changedAt: new Date(event.occurredAt) })));
    const unlisten = () => stopListening.forEach((stop) => stop());
    let rows: StockUpdate[];
    try {
      rows = await readRows(ids);
    } catch (error) {
      unlisten();
      throw error;
    }
    if (rows.length < ids.length) {
      unlisten();
      throw notFound("Product");
    }
    return new Repeater<StockUpdate>(async (push, stop) => {
      const coalescer = createCoalescer<StockUpdate>({ intervalMs: STOCK_COALESCE_MS, deliver: (_key, value) => void push(value) });
      for (const row of [...rows, ...early]) coalescer.push(row.productId, row);
      sink = (value) => coalescer.push(value.productId, value);
      await stop;
      unlisten();
      coalescer.close();
    });
  };
}

export type StockChanges = ReturnType<typeof createStockChanges>;
