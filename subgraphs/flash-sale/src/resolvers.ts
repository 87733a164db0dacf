import DataLoader from "dataloader";
import { z } from "zod";
import { forbidden } from "../../../common/errors.ts";
import { requireAdmin, requireUser, type Identity } from "../../../common/identity.ts";
import { parseInput, uuid } from "../../../common/validation.ts";
import { DateTime } from "../../../common/scalars.ts";
import type { BaseContext } from "../../../common/service.ts";
import type { FlashSaleStateName } from "../../../common/events.ts";
import type { OrderRecord } from "../../../common/orders/order-record.ts";
import { parseCreateInput, parsePurchaseInput } from "./input.ts";
import { saleState } from "./state.ts";
import type { SaleRecord } from "./sales.ts";
import type { LiveSale } from "./sale-changes.ts";
import type { FlashSaleDomain } from "./domain.ts";

export interface FlashSaleContext extends BaseContext {
  identity: Identity;
  /** The caller's address as the router saw it (`x-client-ip`), for the per-IP limit. */
  clientIp: string;
  domain: FlashSaleDomain;
  saleLoader: DataLoader<string, SaleRecord | null>;
  remainingLoader: DataLoader<string, number>;
}

type SaleParent = SaleRecord & Partial<Pick<LiveSale, "remaining" | "endedLive">>;
interface ItemParent {
  saleId: string;
  productId: string;
  salePriceCents: number;
  quantity: number;
  live?: number;
}

const state = z.enum(["SCHEDULED", "ACTIVE", "ENDED"]);
const itemKey = (saleId: string, productId: string) => `${saleId} ${productId}`;

/** Live remaining counts of every item a request asks for, in one Redis round trip; items Redis lost are warmed up first. */
export function createRemainingLoader(domain: FlashSaleDomain) {
  return new DataLoader<string, number>(async (keys) => {
    const items = keys.map((k) => {
      const [saleId, productId] = k.split(" ") as [string, string];
      return { saleId, productId };
    });
    let live = await domain.stock.read(items);
    const missing = items.filter((_, i) => !live[i]);
    if (missing.length > 0) {
      for (const m of missing) await domain.warmUp.warmItem(m.saleId, m.productId);
      live = await domain.stock.read(items);
    }
    return live.map((l) => l?.remaining ?? 0);
  });
}

const liveState = (sale: SaleParent, nowMs: number) =>
  saleState({ ...sale, endedAt: sale.endedAt ?? (sale.endedLive ? new Date(nowMs) : null) }, nowMs);

export const resolvers = {
  DateTime,
  Query: {
    flashSale: (_: unknown, args: { id: string }, ctx: FlashSaleContext) => ctx.saleLoader.load(parseInput(uuid, args.id, "id").toLowerCase()),
    flashSales: (_: unknown, args: { state?: FlashSaleStateName | null }, ctx: FlashSaleContext) =>
      ctx.domain.sales.list(args.state ? parseInput(state, args.state, "state") : null, new Date(ctx.domain.now())),
  },
  Mutation: {
    createFlashSale: (_: unknown, args: { input: unknown }, ctx: FlashSaleContext) => {
      requireAdmin(ctx.identity);
      return ctx.domain.createSale(parseCreateInput(args.input, ctx.domain.now()));
    },
    endFlashSale: (_: unknown, args: { id: string }, ctx: FlashSaleContext) => {
      requireAdmin(ctx.identity);
      return ctx.domain.ender.end(parseInput(uuid, args.id, "id").toLowerCase());
    },
    flashPurchase: (_: unknown, args: { input: unknown }, ctx: FlashSaleContext) => {
      const user = requireUser(ctx.identity);
      return ctx.domain.purchase(user.id, ctx.clientIp, parsePurchaseInput(args.input));
    },
  },
  Subscription: {
    flashSaleChanged: {
      subscribe: (_: unknown, args: { id: string }, ctx: FlashSaleContext) => {
        if (!ctx.domain.changes) throw forbidden("Subscriptions are not enabled on this instance.");
        return ctx.domain.changes(args.id);
      },
      resolve: (value: LiveSale) => value,
    },
  },
  FlashSale: {
    __resolveReference: (ref: { id: string }, ctx: FlashSaleContext) =>
      uuid.safeParse(ref.id).success ? ctx.saleLoader.load(ref.id.toLowerCase()) : null,
    state: (sale: SaleParent, _: unknown, ctx: FlashSaleContext) => liveState(sale, ctx.domain.now()),
    items: (sale: SaleParent): ItemParent[] => sale.items.map((i) => ({ ...i, live: sale.remaining?.get(i.productId) })),
  },
  FlashSaleItem: {
    product: (item: ItemParent) => ({ __typename: "Product", id: item.productId }),
    remaining: (item: ItemParent, _: unknown, ctx: FlashSaleContext) => item.live ?? ctx.remainingLoader.load(itemKey(item.saleId, item.productId)),
  },
  Order: {
    currency: (order: OrderRecord) => order.currency.trim(),
  },
  OrderItem: {
    product: (item: { productId: string }) => ({ __typename: "Product", id: item.productId }),
  },
};
