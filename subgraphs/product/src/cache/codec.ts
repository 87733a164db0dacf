import type { ProductRecord } from "../products.ts";

/**
 * L2 entries are `<priceVersion>:<updatedAtMs>|<json>` (lua/cache_put.lua compares the revision in
 * front without parsing JSON); a product known not to exist is `0:0|null`.
 */
export interface EncodedProduct {
  priceVersion: number;
  updatedAtMs: number;
  json: string;
}

export const MISSING: EncodedProduct = { priceVersion: 0, updatedAtMs: 0, json: "null" };

export function encodeProduct(record: ProductRecord): EncodedProduct {
  return { priceVersion: record.priceVersion, updatedAtMs: record.updatedAt.getTime(), json: JSON.stringify(record) };
}

type Wire = Omit<ProductRecord, "createdAt" | "updatedAt"> & { createdAt: string; updatedAt: string };

/** The product in an L2 entry, or null for a remembered miss. Throws on an entry this code did not write. */
export function decodeEntry(raw: string): ProductRecord | null {
  const bar = raw.indexOf("|");
  if (bar < 0) throw new Error("cache entry has no revision");
  const wire = JSON.parse(raw.slice(bar + 1)) as Wire | null;
  if (wire === null) return null;
  return { ...wire, createdAt: new Date(wire.createdAt), updatedAt: new Date(wire.updatedAt) };
}
