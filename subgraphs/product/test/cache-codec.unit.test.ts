import { loadConfig } from "../../../common/config.ts";
import { decodeEntry, encodeProduct, MISSING } from "../src/cache/codec.ts";
import { cacheKeys, cacheOptionsFromConfig } from "../src/cache/options.ts";
import { parseInvalidation } from "../src/cache/invalidation.ts";
import { changesCatalogue } from "../src/cache/refresh-consumer.ts";
import { normaliseSearch, type ProductRecord } from "../src/products.ts";
import { createEvent, type InventoryEvent, type ProductEvent } from "../../../common/events.ts";

const product: ProductRecord = {
  id: "7b0f3f5e-2a51-4f57-9d4e-3d7c5a8a2f10",
  sku: "SKU-1",
  name: "Lamp",
  description: "Warm | bright",
  priceCents: 1_999,
  currency: "EUR",
  priceVersion: 3,
  active: true,
  createdAt: new Date("2026-01-02T03:04:05.678Z"),
  updatedAt: new Date("2026-02-03T04:05:06.789Z"),
};

test("an L2 entry carries the revision in front and decodes back to the same product, dates included", () => {
  const encoded = encodeProduct(product);
  expect(encoded).toMatchObject({ priceVersion: 3, updatedAtMs: Date.parse("2026-02-03T04:05:06.789Z") });
  const raw = `${encoded.priceVersion}:${encoded.updatedAtMs}|${encoded.json}`;
  expect(decodeEntry(raw)).toEqual(product);
  expect(decodeEntry(raw)!.createdAt).toBeInstanceOf(Date);
});

test("a remembered miss decodes to null and is older than every real revision", () => {
  expect(decodeEntry(`${MISSING.priceVersion}:${MISSING.updatedAtMs}|${MISSING.json}`)).toBeNull();
  expect(MISSING.priceVersion).toBeLessThan(1);
  expect(() => decodeEntry("{}")).toThrow("revision");
});

test("search queries are normalised: case, outer and repeated whitespace do not matter", () => {
  expect(normaliseSearch("  Retro \t RUNNER\n ")).toBe("retro runner");
  expect(normaliseSearch("retro runner")).toBe(normaliseSearch("RETRO    Runner"));
  expect(normaliseSearch("   ")).toBe("");
});

test("invalidation messages are a list of ids; anything else is refused", () => {
  expect(parseInvalidation('{"ids":["a","b"]}')).toEqual(["a", "b"]);
  expect(parseInvalidation('{"ids":[1]}')).toBeNull();
  expect(parseInvalidation("a")).toBeNull();
  expect(parseInvalidation('{"id":"a"}')).toBeNull();
});

test("cache options come from config, with a key prefix per database unless one is given", () => {
  const defaults = cacheOptionsFromConfig(loadConfig({ DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/flashgraph_test" }));
  expect(defaults).toEqual({
    keyPrefix: "fg:flashgraph_test:cache:",
    l1Max: 10_000,
    l1TtlMs: 30_000,
    l2TtlSeconds: 300,
    queryTtlSeconds: 60,
    negativeTtlMs: 2_000,
  });
  const config = loadConfig({ CACHE_KEY_PREFIX: "x:", CACHE_L1_MAX: "5", CACHE_NEGATIVE_TTL_MS: "50", CACHE_ENABLED: "false" });
  expect(config.CACHE_ENABLED).toBe(false);
  expect(cacheOptionsFromConfig(config)).toMatchObject({ keyPrefix: "x:", l1Max: 5, negativeTtlMs: 50 });
  expect(() => loadConfig({ CACHE_L1_MAX: "0" })).toThrow("CACHE_L1_MAX");
});

test("every cache key and the channel share the prefix; results are keyed by generation", () => {
  const keys = cacheKeys("p:");
  expect(keys.product("1")).toBe("p:product:1");
  expect(keys.query("7", "search", "20:lamp")).toBe("p:query:7:search:20:lamp");
  expect(keys.generation.startsWith("p:")).toBe(true);
  expect(keys.channel.startsWith("p:")).toBe(true);
});

test("only a created product changes which products lists and searches return", () => {
  const created = createEvent<ProductEvent>("ProductCreated", "p", { productId: "p", sku: "s", name: "n", priceCents: 1, currency: "USD" });
  const priced = createEvent<ProductEvent>("ProductPriceChanged", "p", { productId: "p", priceCents: 2, priceVersion: 2 });
  const stock = createEvent<InventoryEvent>("StockChanged", "p", {
    productId: "p",
    available: 1,
    reserved: 0,
    sold: 0,
    version: 1,
    reason: "restock",
    delta: 1,
  });
  expect([created, priced, stock].map(changesCatalogue)).toEqual([true, false, false]);
});
