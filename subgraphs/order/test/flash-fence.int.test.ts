import { randomUUID, createHash } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { connectTestInfra, type Infra } from "../../../test/harness.ts";
import { defineScript } from "../../../common/redis.ts";
import type { FlashOrderPlaced } from "../../../common/events.ts";
import { encodePointer, itemKeys, orderPointerKey, saleChannel } from "../../../common/orders/flash-keys.ts";
import { createFlashRelease } from "../../../common/orders/flash-release.ts";
import { createFlashFence } from "../../../common/orders/flash-fence.ts";
import { createFlashReservations } from "../src/flash/reservations.ts";
import { createPendingFlashOrders } from "../src/flash/pending-orders.ts";
import { writeFlashOrders } from "../src/flash/order-writer.ts";

// The fence between a purchase that takes its reservation back (its event timed out) and the writer or
// persistPending that got the event after all: whatever the interleaving, each purchase ends with exactly one
// outcome, in Redis and PostgreSQL alike (docs/flash-sales.md, Unknown outcomes).
let infra: Infra;
beforeAll(async () => {
  infra = await connectTestInfra();
});
afterAll(() => infra.close());

const TOMBSTONE = 3_600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A sale item of `quantity` units loaded as warm-up does (lua/flash_load.lua). */
async function loadItem(quantity: number) {
  const saleId = randomUUID();
  const productId = randomUUID();
  const k = itemKeys(saleId, productId);
  const now = Date.now();
  await defineScript(infra.redis, "flash_load")(
    [k.item, k.users],
    [quantity, 0, quantity, 500, "EUR", 100, now - 1_000, now + 3_600_000, "0", saleId, productId],
  );
  return { saleId, productId, k };
}

/** A purchase taken by lua/flash_purchase.lua, with its pointer, as purchase.ts makes it; returns its event. */
async function purchase(saleId: string, productId: string, orderId: string = randomUUID(), key = orderId): Promise<FlashOrderPlaced> {
  const k = itemKeys(saleId, productId);
  const now = Date.now();
  const requestHash = createHash("sha256").update(`${orderId}${now}`).digest("hex");
  const userId = `buyer-${orderId.slice(0, 8)}`;
  const expiresAt = now + 900_000;
  const reply = (await defineScript(infra.redis, "flash_purchase")(
    [k.item, k.users, k.reservation(orderId), k.expiry],
    [orderId, userId, 1, requestHash, now, expiresAt, 100_000, 100_000, saleChannel(saleId), key],
  )) as string[];
  expect(reply[0]).toBe("ok");
  await infra.redis.set(orderPointerKey(orderId), encodePointer({ saleId, productId, requestHash }), "EX", 3_600);
  return {
    orderId,
    userId,
    idempotencyKey: key,
    requestHash,
    saleId,
    productId,
    quantity: 1,
    unitPriceCents: 500,
    currency: "EUR",
    reservedUntil: new Date(expiresAt).toISOString(),
    createdAt: new Date(now).toISOString(),
  };
}

const rows = async (ids: string[]) => infra.prisma.order.findMany({ where: { id: { in: ids } }, select: { id: true, status: true } });

test("a take-back racing the writer or persistPending ends with one outcome: units back and no order, or an order and units held", async () => {
  const trials = 60;
  const { saleId, productId, k } = await loadItem(trials);
  const release = createFlashRelease(infra.redis, { tombstoneSeconds: TOMBSTONE });
  const admit = createFlashFence(infra.redis);
  const pending = createPendingFlashOrders(
    infra.prisma,
    createFlashReservations(infra.redis, { registry: `fence-test:${randomUUID()}`, tombstoneSeconds: TOMBSTONE }),
    admit,
  );
  const orders = await Promise.all(Array.from({ length: trials }, () => purchase(saleId, productId)));

  // Half race the writer's path (fence, then the batch insert), half persistPending (payOrder on a pending order);
  // random delays make either side win about as often.
  const outcomes = await Promise.all(
    orders.map(async (order, i) => {
      const [taken, written] = await Promise.all([
        sleep(Math.random() * 6).then(() => release.releaseAt(order, order.orderId, { abort: true })),
        sleep(Math.random() * 6).then(async () =>
          i % 2 === 0 ? (await writeFlashOrders(infra.prisma, await admit([order]))) === 1 : (await pending.persist(order.orderId)) !== null,
        ),
      ]);
      return { order, taken: taken.ok, kept: !taken.ok && taken.reason === "already" && taken.state === "durable", written };
    }),
  );

  const stored = new Map((await rows(orders.map((o) => o.orderId))).map((r) => [r.id, r.status]));
  for (const o of outcomes) {
    // Exactly one side won.
    expect([o.order.orderId, o.taken !== o.kept, o.taken !== o.written]).toEqual([o.order.orderId, true, true]);
    const state = await infra.redis.hget(k.reservation(o.order.orderId), "state");
    if (o.taken) {
      expect([o.order.orderId, state, stored.get(o.order.orderId)]).toEqual([o.order.orderId, "aborted", undefined]);
    } else {
      expect([o.order.orderId, state, stored.get(o.order.orderId)]).toEqual([o.order.orderId, "reserved", "RESERVED"]);
    }
  }
  const taken = outcomes.filter((o) => o.taken).length;
  // Both sides won some races, or the test proved nothing about the interleaving.
  expect(taken).toBeGreaterThan(0);
  expect(taken).toBeLessThan(trials);
  const item = await infra.redis.hgetall(k.item);
  expect({ remaining: Number(item.remaining), sold: Number(item.sold) }).toEqual({ remaining: taken, sold: trials - taken });
  expect(stored.size).toBe(trials - taken);

  // The event of a taken-back purchase that arrives later still finds the fence closed, on either path.
  const late = outcomes.filter((o) => o.taken).map((o) => o.order);
  expect(await admit(late)).toEqual([]);
  expect(await pending.persist(late[0]!.orderId)).toBeNull();
  expect(await rows(late.map((o) => o.orderId))).toEqual([]);
});

test("an aborted purchase's key works again, and the old attempt's late event does not write the new one's order", async () => {
  const { saleId, productId, k } = await loadItem(5);
  const release = createFlashRelease(infra.redis, { tombstoneSeconds: TOMBSTONE });
  const admit = createFlashFence(infra.redis);
  const orderId = randomUUID();
  const first = await purchase(saleId, productId, orderId);
  expect(await release.release(orderId, { abort: true })).toEqual({ ok: true, skipped: 0 });
  // Forgotten: the pointer is gone, the tombstone says aborted, the units and the rate token are back.
  expect(await infra.redis.get(orderPointerKey(orderId))).toBeNull();
  expect(await infra.redis.hget(k.item, "remaining")).toBe("5");

  await sleep(2);
  const second = await purchase(saleId, productId, orderId);
  expect(await infra.redis.hget(k.reservation(orderId), "state")).toBe("reserved");
  expect(await admit([first])).toEqual([]);
  expect(await admit([second])).toEqual([second]);
  expect(await writeFlashOrders(infra.prisma, [second])).toBe(1);
  const row = await infra.prisma.order.findUniqueOrThrow({ where: { id: orderId } });
  expect(row.createdAt.toISOString()).toBe(second.createdAt);
  // Admitted means durable: the purchase can no longer take it back.
  expect(await release.release(orderId, { abort: true })).toEqual({ ok: false, reason: "already", state: "durable" });
  expect(await infra.redis.hget(k.item, "remaining")).toBe("4");
});

test("the sweeper's forget on a reservation being written releases it without forgetting it; the writer still writes it", async () => {
  const { saleId, productId, k } = await loadItem(3);
  const release = createFlashRelease(infra.redis, { tombstoneSeconds: TOMBSTONE });
  const admit = createFlashFence(infra.redis);
  const order = await purchase(saleId, productId);
  expect(await admit([order])).toEqual([order]);
  // An orphan release (writer stuck past the expiry): units back once, the tombstone says released, not aborted.
  expect(await release.release(order.orderId, { forget: true })).toEqual({ ok: true, skipped: 0 });
  expect(await infra.redis.hget(k.reservation(order.orderId), "state")).toBe("released");
  expect(await infra.redis.get(orderPointerKey(order.orderId))).not.toBeNull();
  expect(await admit([order])).toEqual([order]);
  // A reservation Redis does not have (lost with Redis) is written as before the fence.
  const lost = { ...order, orderId: randomUUID() };
  expect(await admit([lost])).toEqual([lost]);
});
