import { z } from "zod";
import { requireAdmin, type Identity } from "../../../common/identity.ts";
import { decodeCursor, encodeCursor, pageSize, parseInput, uuid } from "../../../common/validation.ts";
import { DateTime } from "../../../common/scalars.ts";
import type { BaseContext } from "../../../common/service.ts";
import { normaliseSearch, type ProductRecord } from "./products.ts";
import type { Catalogue } from "./catalogue.ts";

export interface ProductContext extends BaseContext {
  identity: Identity;
  products: Catalogue;
  productLoader: ReturnType<Catalogue["createLoader"]>;
}

const createProductInput = z.object({
  sku: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9._-]+$/, "use letters, digits, '.', '_' or '-'"),
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5_000),
  priceCents: z.number().int().min(0).max(1_000_000_000),
  currency: z.string().regex(/^[A-Z]{3}$/, "must be an ISO-4217 code such as USD"),
  initialStock: z.number().int().min(0).max(10_000_000).default(0),
});
/** Searches run (and are cached) in normalised form: "  Retro   RUNNER " is "retro runner". */
const searchQuery = z.string().max(200).transform(normaliseSearch).pipe(z.string().min(1, "must not be empty"));
const cursor = z.object({ createdAt: z.string().datetime(), id: z.string().uuid() });

const toEdge = (node: ProductRecord) => ({ cursor: encodeCursor({ createdAt: node.createdAt.toISOString(), id: node.id }), node });

export const resolvers = {
  DateTime,
  Query: {
    product: (_: unknown, args: { id: string }, ctx: ProductContext) => ctx.productLoader.load(parseInput(uuid, args.id, "id")),
    products: async (_: unknown, args: { first: number; after?: string | null }, ctx: ProductContext) => {
      const first = parseInput(pageSize, args.first, "first");
      const after = args.after ? decodeCursor(args.after, cursor) : null;
      const { rows, hasNextPage } = await ctx.products.page(first, after);
      const edges = rows.map(toEdge);
      return { edges, nodes: rows, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
    },
    searchProducts: (_: unknown, args: { query: string; first: number }, ctx: ProductContext) => {
      const query = parseInput(searchQuery, args.query, "query");
      return ctx.products.search(query, parseInput(pageSize, args.first, "first"));
    },
  },
  Mutation: {
    createProduct: (_: unknown, args: { input: unknown }, ctx: ProductContext) => {
      requireAdmin(ctx.identity);
      return ctx.products.create(parseInput(createProductInput, args.input, "input"));
    },
    updateProductPrice: async (_: unknown, args: { id: string; priceCents: number }, ctx: ProductContext) => {
      requireAdmin(ctx.identity);
      const id = parseInput(uuid, args.id, "id");
      return ctx.products.updatePrice(id, parseInput(z.number().int().min(0).max(1_000_000_000), args.priceCents, "priceCents"));
    },
  },
  Product: {
    __resolveReference: async (ref: { id: string }, ctx: ProductContext) => {
      if (!uuid.safeParse(ref.id).success) return null;
      return ctx.productLoader.load(ref.id);
    },
  },
};
