import DataLoader from "dataloader";
import type { Prisma, PrismaClient } from "../../../common/prisma.ts";
import type { FlashSaleStateName } from "../../../common/events.ts";

/** The flash-sale subgraph's view of a sale: the row and its items (sorted by product id). */
export const withItems = { items: { orderBy: { productId: "asc" } } } as const satisfies Prisma.FlashSaleInclude;
export type SaleRecord = Prisma.FlashSaleGetPayload<{ include: typeof withItems }>;

/** The `WHERE` of sales in a state at `now` (the same rule as state.ts). */
export function stateFilter(state: FlashSaleStateName, now: Date): Prisma.FlashSaleWhereInput {
  switch (state) {
    case "ENDED":
      return { OR: [{ endedAt: { not: null } }, { endsAt: { lte: now } }] };
    case "ACTIVE":
      return { endedAt: null, startsAt: { lte: now }, endsAt: { gt: now } };
    case "SCHEDULED":
      return { endedAt: null, startsAt: { gt: now } };
  }
}

export function createSaleReader(prisma: PrismaClient) {
  const find = (id: string): Promise<SaleRecord | null> => prisma.flashSale.findUnique({ where: { id }, include: withItems });
  return {
    find,
    /** One query for every sale asked for in the same tick (flashSale(id), entity references). */
    createLoader: () =>
      new DataLoader<string, SaleRecord | null>(async (ids) => {
        const rows = await prisma.flashSale.findMany({ where: { id: { in: [...ids] } }, include: withItems });
        const byId = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => byId.get(id) ?? null);
      }),
    /** Sales in `state` (all when null), soonest start first; at most `limit`. */
    list: (state: FlashSaleStateName | null, now: Date, limit = 100): Promise<SaleRecord[]> =>
      prisma.flashSale.findMany({
        where: state ? stateFilter(state, now) : {},
        include: withItems,
        orderBy: [{ startsAt: "asc" }, { id: "asc" }],
        take: limit,
      }),
    /** Sales that need Redis keys: not ended. */
    live: (now: Date): Promise<SaleRecord[]> => prisma.flashSale.findMany({ where: { endedAt: null, endsAt: { gt: now } }, include: withItems }),
    /** Sales that ended (by time or early) but not before `since`: their items may still get units back. */
    endedSince: (since: Date, now: Date): Promise<SaleRecord[]> =>
      prisma.flashSale.findMany({
        where: { OR: [{ endedAt: { gte: since } }, { endedAt: null, endsAt: { lte: now, gte: since } }] },
        include: withItems,
      }),
    /** Sales past endsAt that nobody has ended yet. */
    overdue: (now: Date): Promise<SaleRecord[]> => prisma.flashSale.findMany({ where: { endedAt: null, endsAt: { lte: now } }, include: withItems }),
  };
}

export type SaleReader = ReturnType<typeof createSaleReader>;
