import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import type { SaleStock } from "./sale-stock.ts";
import type { PurchaseReservations } from "./purchase-reservations.ts";
import type { SaleReader, SaleRecord } from "./sales.ts";
import type { FlashRebuild } from "../../../common/orders/flash-rebuild.ts";

export interface WarmUpDeps {
  prisma: PrismaClient;
  stock: SaleStock;
  reservations: PurchaseReservations;
  sales: SaleReader;
  /** Rebuilds an item Redis lost, with its orders' reservations (common/orders/flash-rebuild.ts). */
  rebuild: FlashRebuild;
  logger: Logger;
  now: () => number;
}

/**
 * Puts sale items into Redis before they sell: at creation, and again for any scheduled or active item Redis
 * lost (flush, failover without persistence). A lost item is rebuilt from PostgreSQL with its orders'
 * reservations, pointers and buyers' units (createFlashRebuild); purchases whose events were still on their
 * way to PostgreSQL are accounted for by the order writer's fence when they arrive (docs/flash-sales.md).
 */
export function createWarmUp(deps: WarmUpDeps) {
  const { prisma, stock, reservations } = deps;
  const log = deps.logger.child({ component: "flash-warm-up" });

  /** Loads the sale's items Redis does not have; returns how many it loaded. */
  async function warmSale(sale: SaleRecord, opts: { fresh?: boolean } = {}): Promise<number> {
    const live = await stock.read(sale.items.map((i) => ({ saleId: sale.id, productId: i.productId })));
    const products = await prisma.product.findMany({
      where: { id: { in: sale.items.map((i) => i.productId) } },
      select: { id: true, currency: true },
    });
    const currencyOf = new Map(products.map((p) => [p.id, p.currency.trim()]));
    let loaded = 0;
    for (const [index, item] of sale.items.entries()) {
      await reservations.register(sale.id, item.productId, sale.endsAt.getTime());
      if (live[index]) continue;
      if (!opts.fresh) {
        if ((await deps.rebuild.loadItem(sale.id, item.productId)) === "loaded") loaded++;
        continue;
      }
      // A new sale has no orders yet: its items are written as they are.
      const wrote = await stock.load({
        saleId: sale.id,
        productId: item.productId,
        remaining: item.quantity - item.returnedQuantity,
        sold: 0,
        quantity: item.quantity,
        priceCents: item.salePriceCents,
        currency: currencyOf.get(item.productId) ?? "USD",
        perUserLimit: sale.perUserLimit,
        startsAtMs: sale.startsAt.getTime(),
        endsAtMs: sale.endsAt.getTime(),
        ended: sale.endedAt !== null,
        users: new Map(),
      });
      if (wrote) loaded++;
    }
    if (loaded > 0 && !opts.fresh) log.warn({ saleId: sale.id, loaded }, "reloaded flash sale items Redis had lost");
    return loaded;
  }

  return {
    warmSale,

    /**
     * Loads one item on demand (a purchase found it missing). Answers the sale (null when it has no such item);
     * an ended sale is not loaded: nothing can be bought from it, and its drains must not start over.
     */
    async warmItem(saleId: string, productId: string): Promise<SaleRecord | null> {
      const sale = await deps.sales.find(saleId);
      if (!sale || !sale.items.some((i) => i.productId === productId)) return null;
      if (!sale.endedAt && sale.endsAt.getTime() > deps.now()) await warmSale(sale);
      return sale;
    },

    /** One pass over every scheduled or active sale. */
    async warmAll(): Promise<number> {
      let loaded = 0;
      for (const sale of await deps.sales.live(new Date(deps.now()))) loaded += await warmSale(sale);
      return loaded;
    },
  };
}

export type WarmUp = ReturnType<typeof createWarmUp>;
