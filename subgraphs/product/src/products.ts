import { randomUUID } from "node:crypto";
import DataLoader from "dataloader";
import { Prisma, isUniqueViolation, type PrismaClient } from "../../../common/prisma.ts";
import { createEvent, stockChanged, type ProductEvent } from "../../../common/events.ts";
import { enqueue } from "../../../common/outbox.ts";
import { badInput, notFound } from "../../../common/errors.ts";

/** The product subgraph's narrow view of the catalogue. */
export interface ProductRecord {
  id: string;
  sku: string;
  name: string;
  description: string;
  priceCents: number;
  currency: string;
  priceVersion: number;
  active: boolean;
  createdAt: Date;
  /** Not in the schema: orders cached copies of the same product (see lua/cache_put.lua). */
  updatedAt: Date;
}

export interface NewProduct {
  sku: string;
  name: string;
  description: string;
  priceCents: number;
  currency: string;
  initialStock: number;
}

export interface PageCursor {
  createdAt: string;
  id: string;
}

const select = {
  id: true,
  sku: true,
  name: true,
  description: true,
  priceCents: true,
  currency: true,
  priceVersion: true,
  active: true,
  createdAt: true,
  updatedAt: true,
} as const;

/** Lowercase, trimmed, inner whitespace collapsed: the form a search runs in and is cached under. */
export function normaliseSearch(query: string): string {
  return query.trim().toLowerCase().replace(/\s+/g, " ");
}

/** The store's database operations, counted per call (`product_store_queries_total`). */
export type StoreOperation = "findByIds" | "page" | "search" | "create" | "updatePrice";

export interface ProductStoreOptions {
  /** Called once per database round trip (a transaction counts once); default: nothing. */
  onQuery?: (operation: StoreOperation) => void;
}

export function createProductStore(prisma: PrismaClient, options: ProductStoreOptions = {}) {
  const counted = (operation: StoreOperation) => options.onQuery?.(operation);

  /** Every product among `ids` that exists, in one query, in no particular order. */
  async function findByIds(ids: readonly string[]): Promise<ProductRecord[]> {
    counted("findByIds");
    return prisma.product.findMany({ where: { id: { in: [...ids] } }, select });
  }

  return {
    findByIds,

    /** One query for every id asked for in the same tick (entity references, lists); used when the cache is off. */
    createLoader: () =>
      new DataLoader<string, ProductRecord | null>(async (ids) => {
        const byId = new Map((await findByIds(ids)).map((r) => [r.id, r]));
        return ids.map((id) => byId.get(id) ?? null);
      }),

    /** Active products ordered by (createdAt, id), after the cursor; one extra row tells if there is a next page. */
    async page(first: number, after: PageCursor | null): Promise<{ rows: ProductRecord[]; hasNextPage: boolean }> {
      const where: Prisma.ProductWhereInput = { active: true };
      if (after) {
        const at = new Date(after.createdAt);
        where.OR = [{ createdAt: { gt: at } }, { createdAt: at, id: { gt: after.id } }];
      }
      counted("page");
      const rows = await prisma.product.findMany({ where, select, orderBy: [{ createdAt: "asc" }, { id: "asc" }], take: first + 1 });
      return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
    },

    /** Substring match on name, sku and description (trigram-indexed); `%` and `_` in the query are literal. */
    async search(query: string, first: number): Promise<ProductRecord[]> {
      counted("search");
      const pattern = `%${query.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      return prisma.$queryRaw<ProductRecord[]>`
        SELECT id, sku, name, description, price_cents AS "priceCents", currency, price_version AS "priceVersion",
               active, created_at AS "createdAt", updated_at AS "updatedAt"
        FROM products
        WHERE active AND (name ILIKE ${pattern} OR sku ILIKE ${pattern} OR description ILIKE ${pattern})
        ORDER BY (name ILIKE ${pattern}) DESC, name, id
        LIMIT ${first}`;
    },

    /**
     * Creates the product and its stock row in one transaction, with their events in the outbox, so the
     * inventory subgraph reads `initialStock` as soon as this returns (read-your-writes across subgraphs).
     */
    async create(input: NewProduct): Promise<ProductRecord> {
      const id = randomUUID();
      counted("create");
      try {
        return await prisma.$transaction(async (tx) => {
          const product = await tx.product.create({
            data: { id, sku: input.sku, name: input.name, description: input.description, priceCents: input.priceCents, currency: input.currency },
            select,
          });
          const stock = await tx.stock.create({ data: { productId: id, available: input.initialStock } });
          await enqueue(
            tx,
            "product",
            createEvent<ProductEvent>("ProductCreated", id, {
              productId: id,
              sku: product.sku,
              name: product.name,
              priceCents: product.priceCents,
              currency: product.currency,
            }),
          );
          await enqueue(tx, "inventory", stockChanged({ ...stock, productId: id }, "created", stock.available));
          return product;
        });
      } catch (error) {
        if (isUniqueViolation(error, "sku")) throw badInput("sku", `sku: '${input.sku}' is already used by another product`);
        throw error;
      }
    },

    /** Sets the price; `priceVersion` goes up by one only when the price really changes. */
    async updatePrice(id: string, priceCents: number): Promise<ProductRecord> {
      counted("updatePrice");
      return prisma.$transaction(async (tx) => {
        const rows = await tx.$queryRaw<{ price_cents: number }[]>`SELECT price_cents FROM products WHERE id = ${id}::uuid FOR UPDATE`;
        const current = rows[0];
        if (!current) throw notFound("Product");
        if (current.price_cents === priceCents) return tx.product.findUniqueOrThrow({ where: { id }, select });
        const product = await tx.product.update({ where: { id }, data: { priceCents, priceVersion: { increment: 1 } }, select });
        await enqueue(
          tx,
          "product",
          createEvent<ProductEvent>("ProductPriceChanged", id, { productId: id, priceCents: product.priceCents, priceVersion: product.priceVersion }),
        );
        return product;
      });
    },
  };
}

export type ProductStore = ReturnType<typeof createProductStore>;
