import { randomUUID } from "node:crypto";
import { connectTestInfra, logger, type Infra } from "../../../test/harness.ts";
import { createStockAggregator } from "../src/stock-aggregator.ts";
import { journalStockMove } from "../src/stock-moves.ts";

// The stock journal against the real PostgreSQL: moves appended by orders are folded into the stock rows exactly
// once, by any number of aggregators at once, with one StockChanged per product per fold, and a product whose row
// refuses its moves holds up only itself. No aggregator runs on a timer here: the test calls foldOnce.
let infra: Infra;
beforeAll(async () => {
  infra = await connectTestInfra();
});
afterAll(() => infra.close());

async function newProduct(available: number): Promise<string> {
  const id = randomUUID();
  await infra.prisma.product.create({
    data: { id, sku: `AGG-${id.slice(0, 8)}`, name: "Aggregated", description: "", priceCents: 100, currency: "USD" },
  });
  await infra.prisma.stock.create({ data: { productId: id, available } });
  return id;
}

const row = (productId: string) =>
  infra.prisma.stock.findUniqueOrThrow({ where: { productId }, select: { available: true, reserved: true, sold: true, version: true } });
const pending = (productIds: string[]) => infra.prisma.stockMove.count({ where: { productId: { in: productIds } } });
const stockEvents = (productId: string) =>
  infra.prisma.outboxEvent.findMany({ where: { key: productId, type: "StockChanged" }, orderBy: { id: "asc" } });
const move = (orderId: string, lines: { productId: string; quantity: number }[], kind: "reserve" | "release" | "commit") =>
  // 200 at once on a pool of 10: each waits its turn for a connection as long as it needs.
  infra.prisma.$transaction((tx) => journalStockMove(tx, orderId, lines, kind), { maxWait: 60_000, timeout: 30_000 });

test("concurrent orders' moves are folded exactly once by racing aggregators, one event per product per fold", async () => {
  const [a, b] = [await newProduct(1_000), await newProduct(1_000)];
  const orders = Array.from({ length: 200 }, () => randomUUID());
  // 200 orders of both products at once, then 50 of them released and 50 committed
  await Promise.all(
    orders.map((id) =>
      move(
        id,
        [
          { productId: a!, quantity: 2 },
          { productId: b!, quantity: 1 },
        ],
        "reserve",
      ),
    ),
  );
  await Promise.all(
    orders.slice(0, 50).map((id) =>
      move(
        id,
        [
          { productId: a!, quantity: 2 },
          { productId: b!, quantity: 1 },
        ],
        "release",
      ),
    ),
  );
  await Promise.all(
    orders.slice(50, 100).map((id) =>
      move(
        id,
        [
          { productId: a!, quantity: 2 },
          { productId: b!, quantity: 1 },
        ],
        "commit",
      ),
    ),
  );
  expect(await pending([a!, b!])).toBe(2 * 300);
  expect(await row(a!)).toMatchObject({ available: 1_000, reserved: 0, sold: 0 });

  const aggregators = [0, 1, 2].map(() => createStockAggregator({ prisma: infra.prisma, logger, batchSize: 97 }));
  // Every aggregator folds until the journal is empty; SKIP LOCKED hands each batch to exactly one of them.
  await Promise.all(
    aggregators.map(async (agg) => {
      while ((await agg.foldOnce()) > 0);
    }),
  );

  expect(await pending([a!, b!])).toBe(0);
  expect(await row(a!)).toMatchObject({ available: 1_000 - 150 * 2, reserved: 100 * 2, sold: 50 * 2 });
  expect(await row(b!)).toMatchObject({ available: 1_000 - 150, reserved: 100, sold: 50 });
  const events = await stockEvents(a!);
  const { version } = await row(a!);
  expect(events.length).toBe(version); // one event per fold that changed the row, each with that fold's version
  const last = events.at(-1)!.payload as { data: Record<string, unknown> };
  expect(last.data).toMatchObject({ productId: a, available: 700, reserved: 200, sold: 100, version, reason: "orders" });
  const deltas = events.map((e) => (e.payload as { data: { delta: number } }).data.delta);
  expect(deltas.reduce((sum, d) => sum + d, 0)).toBe(-300);
});

test("a product whose row refuses its moves (it would go below zero) holds up only itself", async () => {
  const [broken, healthy] = [await newProduct(1), await newProduct(10)];
  await move(randomUUID(), [{ productId: broken!, quantity: 5 }], "reserve"); // more than the row has: PostgreSQL disagrees with Redis
  await move(randomUUID(), [{ productId: healthy!, quantity: 3 }], "reserve");
  const aggregator = createStockAggregator({ prisma: infra.prisma, logger, pollMs: 60_000, lingerMs: 0 });
  const running = aggregator.start();
  try {
    const deadline = Date.now() + 10_000;
    while ((await pending([healthy!])) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await row(healthy!)).toMatchObject({ available: 7, reserved: 3, sold: 0 });
    expect(await pending([broken!])).toBe(1);
    expect(await row(broken!)).toMatchObject({ available: 1, reserved: 0, sold: 0 });
  } finally {
    await running.close();
    await infra.prisma.stockMove.deleteMany({ where: { productId: broken! } });
  }
});
