import DataLoader from "dataloader";
import { z } from "zod";
import { requireAdmin, type Identity } from "../../../common/identity.ts";
import { parseInput, uuid } from "../../../common/validation.ts";
import type { BaseContext } from "../../../common/service.ts";
import type { StockCounters } from "../../../common/stock.ts";
import type { StockSnapshot } from "../../../common/events.ts";
import { DateTime } from "../../../common/scalars.ts";
import { forbidden } from "../../../common/errors.ts";
import type { StockChanges, StockUpdate } from "./stock-changes.ts";

export interface InventoryContext extends BaseContext {
  identity: Identity;
  stockLoader: DataLoader<string, StockSnapshot>;
  restock: (productId: string, quantity: number) => Promise<StockSnapshot>;
  stockChanges: StockChanges | null;
}

/** One Redis round trip for every product whose stock a request needs. */
export const createStockLoader = (counters: StockCounters) => new DataLoader<string, StockSnapshot>((ids) => counters.read(ids));

const quantity = z.number().int().min(1, "must be at least 1").max(10_000_000, "must be at most 10000000");
const zeroStock = (productId: string) => ({ productId, available: 0, reserved: 0, sold: 0 });

export const resolvers = {
  DateTime,
  Query: {
    stock: (_: unknown, args: { productId: string }, ctx: InventoryContext) => ctx.stockLoader.load(parseInput(uuid, args.productId, "productId")),
  },
  Mutation: {
    restock: (_: unknown, args: { productId: string; quantity: number }, ctx: InventoryContext) => {
      requireAdmin(ctx.identity);
      return ctx.restock(parseInput(uuid, args.productId, "productId"), parseInput(quantity, args.quantity, "quantity"));
    },
  },
  Subscription: {
    stockChanged: {
      subscribe: (_: unknown, args: { productIds: string[] }, ctx: InventoryContext) => {
        if (!ctx.stockChanges) throw forbidden("Subscriptions are not enabled on this instance.");
        return ctx.stockChanges(args.productIds);
      },
      resolve: (value: StockUpdate) => value,
    },
  },
  StockUpdate: {
    product: (update: StockUpdate) => ({ __typename: "Product", id: update.productId }),
  },
  Product: {
    __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
    stock: (product: { id: string }, _: unknown, ctx: InventoryContext) =>
      uuid.safeParse(product.id).success ? ctx.stockLoader.load(product.id) : zeroStock(product.id),
  },
};
