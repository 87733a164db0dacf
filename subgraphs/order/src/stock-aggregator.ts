import { Prisma, type PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { stockChanged } from "../../../common/events.ts";
import { outboxInsertSql } from "../../../common/outbox.ts";

export interface StockAggregatorOptions {
  prisma: PrismaClient;
  logger: Logger;
  /** Journal rows folded per statement (default 2 000). */
  batchSize?: number;
  /**
   * After a nudge, wait this long so the orders of the next few ms fold into the same statement (default 50 ms):
   * under load, at most about 20 folds (and StockChanged events per product) a second instead of one per write.
   */
  lingerMs?: number;
  /** Runs at least this often, for moves no nudge announced: other processes', a killed process's (default 500 ms). */
  pollMs?: number;
}

/**
 * Folds the stock journal (stock_moves, written by orders: stock-moves.ts) into the stock rows, in ONE statement per
 * batch: takes the oldest moves (SKIP LOCKED, so aggregators of several processes take different ones), locks the
 * rows of their products in product id order like every stock write, adds each product's summed moves to its row,
 * deletes the moves and writes one StockChanged per product with the committed counters. Applied exactly once: the
 * moves leave the journal in the transaction that adds them to the rows. A product's current stock is its row plus
 * its pending moves at any instant (common/orders/stock-rebuild.ts reads it so); the row alone trails by about a
 * batch (docs/orders.md, Stock journal).
 */
export function createStockAggregator(options: StockAggregatorOptions) {
  const { prisma } = options;
  const log = options.logger.child({ component: "stock-aggregator" });
  const batchSize = options.batchSize ?? 2_000;
  const lingerMs = options.lingerMs ?? 50;
  const pollMs = options.pollMs ?? 500;
  // The envelope of each product's event is made in SQL from a template made here, where every event is made.
  const template = stockChanged({ productId: "", available: 0, reserved: 0, sold: 0, version: 0 }, "orders", 0);

  /** Folds up to `batchSize` moves (of one product only, when given); returns how many. */
  async function foldOnce(productId?: string): Promise<number> {
    const [row] = await prisma.$queryRaw<{ folded: number }[]>`
      WITH taken AS (
        SELECT id, product_id, available, reserved, sold FROM stock_moves
        WHERE ${productId ?? null}::uuid IS NULL OR product_id = ${productId ?? null}::uuid
        ORDER BY id LIMIT ${batchSize} FOR UPDATE SKIP LOCKED
      ), sums AS (
        SELECT product_id, sum(available)::int AS available, sum(reserved)::int AS reserved, sum(sold)::int AS sold
        FROM taken GROUP BY product_id
      ), locked AS (
        SELECT product_id FROM stock WHERE product_id IN (SELECT product_id FROM sums) ORDER BY product_id FOR UPDATE
      ), moved AS (
        UPDATE stock s SET available = s.available + m.available, reserved = s.reserved + m.reserved, sold = s.sold + m.sold,
                           updated_at = now()
        FROM sums m WHERE s.product_id = m.product_id AND s.product_id IN (SELECT product_id FROM locked)
        RETURNING s.product_id, s.available, s.reserved, s.sold, s.version, m.available AS delta
      ), gone AS (
        DELETE FROM stock_moves WHERE id IN (SELECT id FROM taken) RETURNING 1
      ), events AS (${outboxInsertSql({
        topic: "inventory",
        envelopes: Prisma.sql`
          SELECT ${JSON.stringify(template)}::jsonb
                 || jsonb_build_object('id', gen_random_uuid(), 'aggregateId', m.product_id, 'occurredAt', to_jsonb(clock_timestamp()),
                      'data', jsonb_build_object('productId', m.product_id, 'available', m.available, 'reserved', m.reserved,
                                                 'sold', m.sold, 'version', m.version, 'reason', 'orders', 'delta', m.delta))
          FROM moved m ORDER BY m.product_id`,
      })})
      SELECT (SELECT count(*)::int FROM gone) AS folded`;
    return row?.folded ?? 0;
  }

  /**
   * After a batch failed: folds the pending products one at a time, so a product whose row refuses its moves (a
   * CHECK violation: PostgreSQL and Redis disagree about it) holds up only itself. Its moves wait in the journal.
   */
  async function foldEachProduct(): Promise<void> {
    try {
      const products = await prisma.$queryRaw<{ product_id: string }[]>`SELECT DISTINCT product_id::text FROM stock_moves`;
      for (const { product_id: productId } of products) {
        try {
          while (!closed && (await foldOnce(productId)) >= batchSize);
        } catch (error) {
          log.error({ err: error, productId }, "the product's stock row refuses its journal moves; they wait in stock_moves");
        }
      }
    } catch (error) {
      log.warn({ err: error }, "could not read the stock journal; retrying at the next poll");
    }
  }

  let timer: NodeJS.Timeout | undefined;
  let dueAt = Infinity;
  let running: Promise<void> | null = null;
  let again = false;
  let closed = true;

  function schedule(delayMs: number): void {
    if (closed || Date.now() + delayMs >= dueAt) return;
    clearTimeout(timer);
    dueAt = Date.now() + delayMs;
    timer = setTimeout(run, delayMs);
  }

  function run(): void {
    dueAt = Infinity;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      let delay = pollMs;
      try {
        while (!closed && (await foldOnce()) >= batchSize);
      } catch (error) {
        log.warn({ err: error }, "could not fold the stock journal; folding product by product");
        await foldEachProduct();
      } finally {
        running = null;
        if (again) delay = lingerMs;
        again = false;
        schedule(delay);
      }
    })();
  }

  return {
    foldOnce,
    /** Moves were just written: fold them soon (within `lingerMs`) instead of at the next poll. */
    nudge: () => schedule(lingerMs),
    /** Folds now, then every `pollMs` and after every nudge, until closed. */
    start(): { close: () => Promise<void> } {
      closed = false;
      schedule(0);
      return {
        close: async () => {
          closed = true;
          clearTimeout(timer);
          await running;
        },
      };
    },
  };
}

export type StockAggregator = ReturnType<typeof createStockAggregator>;
