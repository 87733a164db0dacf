import DataLoader from "dataloader";
import type { NewProduct, PageCursor, ProductRecord, ProductStore } from "./products.ts";
import type { ProductCaching } from "./cache/caching.ts";
import type { QueryResult } from "./cache/query-cache.ts";

/** What the resolvers read and write through: the store itself, or the store behind the cache. */
export type Catalogue = Pick<ProductStore, "createLoader" | "page" | "search" | "create" | "updatePrice">;

const exists = (record: ProductRecord | null): record is ProductRecord => record !== null;

/**
 * The store behind the read cache. Reads: products by id through L1/L2 (one per-request DataLoader
 * batch becomes one cache call), lists and searches as cached id lists filled in from the product
 * cache. Writes: the store commits, then the cache is updated before the mutation returns.
 */
export function createCachedCatalogue(store: ProductStore, caching: ProductCaching): Catalogue {
  const loadMany = (ids: readonly string[]) => caching.products.getMany(ids, store.findByIds);

  /** A cached result's products, in its order; a product missing since is left out. */
  const hydrate = async (result: QueryResult) => result.records ?? (await loadMany(result.list.ids)).filter(exists);

  /** Runs a list query on a miss and hands its fresh rows to the product cache as well. */
  const fromDatabase = async (query: () => Promise<{ rows: ProductRecord[]; hasNextPage: boolean }>): Promise<QueryResult> => {
    const mark = caching.products.mark();
    const { rows, hasNextPage } = await query();
    caching.products.prime(rows, mark);
    return { list: { ids: rows.map((r) => r.id), hasNextPage }, records: rows };
  };

  return {
    createLoader: () => new DataLoader<string, ProductRecord | null>(loadMany),

    async page(first: number, after: PageCursor | null) {
      const args = JSON.stringify([first, after?.createdAt ?? null, after?.id ?? null]);
      const result = await caching.queries.get("page", args, () => fromDatabase(() => store.page(first, after)));
      return { rows: await hydrate(result), hasNextPage: result.list.hasNextPage };
    },

    /** `query` is already normalised (codec.ts), so equivalent searches share one entry. */
    async search(query: string, first: number) {
      const result = await caching.queries.get("search", `${first}:${query}`, () =>
        fromDatabase(async () => ({ rows: await store.search(query, first), hasNextPage: false })),
      );
      return hydrate(result);
    },

    async create(input: NewProduct) {
      const product = await store.create(input);
      await caching.written([product], { catalogueChanged: true });
      return product;
    },

    async updatePrice(id: string, priceCents: number) {
      const product = await store.updatePrice(id, priceCents);
      // Lists and searches hold ids only, so a new price needs no new generation.
      await caching.written([product], { catalogueChanged: false });
      return product;
    },
  };
}
