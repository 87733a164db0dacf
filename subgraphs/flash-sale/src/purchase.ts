import type { Redis } from "ioredis";
import type { PrismaClient } from "../../../common/prisma.ts";
import type { Logger } from "../../../common/logger.ts";
import { appError, ErrorCode, InfrastructureError, notFound } from "../../../common/errors.ts";
import { createEvent, type FlashOrderEvent, type FlashOrderPlaced } from "../../../common/events.ts";
import { orderIdFor } from "../../../common/orders/order-id.ts";
import { reservationKey } from "../../../common/orders/reservation-keys.ts";
import { toOrderRecord, type OrderRecord } from "../../../common/orders/order-record.ts";
import { encodePointer, itemKeys, orderPointerKey } from "../../../common/orders/flash-keys.ts";
import { createFlashFence, FLASH_SOLD_OUT_REASON } from "../../../common/orders/flash-fence.ts";
import { purchaseHash, type FlashPurchaseInput } from "./input.ts";
import type { SaleStock, PurchaseResult } from "./sale-stock.ts";
import type { PurchaseReservations } from "./purchase-reservations.ts";
import type { FlashOrderPublisher } from "./publisher.ts";
import type { IpLimit } from "./ip-limit.ts";

export interface PurchaseDeps {
  redis: Redis;
  prisma: PrismaClient;
  stock: SaleStock;
  reservations: PurchaseReservations;
  publisher: FlashOrderPublisher;
  ipLimit: IpLimit;
  /** Loads an item Redis does not have from PostgreSQL unless the sale ended; null when the sale has no such item. */
  warmItem: (saleId: string, productId: string) => Promise<{ startsAt: Date; endsAt: Date } | null>;
  logger: Logger;
  now: () => number;
  reservationTtlSeconds: number;
  /** How long the order pointer (the cross-item idempotency record) is kept, in seconds. */
  pointerTtlSeconds: number;
  /** RESERVATION_TOMBSTONE_SECONDS: how long the fence keeps a refused purchase's tombstone. */
  tombstoneSeconds: number;
  /** FLASH_SALE_RATE and the effective burst. */
  rate: number;
  burst: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const keyReused = () => appError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "This idempotency key was already used for a different purchase.");
/** The purchase was taken back and fenced: its event, if it lands, is skipped by the order writer. */
const nothingBought = (cause: unknown) =>
  new InfrastructureError("The purchase could not be recorded; nothing was bought. Try again.", true, { cause });
/** Neither taken back nor known to be written: a retry with the same key answers which (docs/flash-sales.md). */
const outcomeUnknown = (cause: unknown) =>
  new InfrastructureError("The purchase's outcome is not known yet; retry with the same idempotency key.", true, { cause });

/** The API error of a refusal the script made (it changed nothing). */
function refusal(result: Exclude<PurchaseResult, { ok: true }>, productId: string): Error {
  switch (result.reason) {
    case "not_active":
      return appError(ErrorCode.SALE_NOT_ACTIVE, "The flash sale is not active.", { startsAt: iso(result.startsAtMs), endsAt: iso(result.endsAtMs) });
    case "rate":
      return appError(ErrorCode.RATE_LIMITED, "Too many purchases right now; try again shortly.", { retryAfterMs: result.retryAfterMs });
    case "limit":
      return appError(ErrorCode.PURCHASE_LIMIT_EXCEEDED, `At most ${result.limit} per buyer in this sale.`, {
        limit: result.limit,
        alreadyPurchased: result.alreadyPurchased,
      });
    case "short":
      return appError(ErrorCode.OUT_OF_STOCK, `Not enough left of product ${productId} in this sale; nothing was reserved.`, {
        productId,
        available: result.remaining,
      });
    case "reused":
      return keyReused();
    case "not_loaded":
      return notFound("Flash sale item");
    case "exists":
      return new Error("an existing purchase is not a refusal");
  }
}

/**
 * flashPurchase: per-IP limit in process, then, in one round trip to Redis, the cross-item idempotency pointer
 * and ONE script (window, rate, per-user limit, stock, reservation), then the order event to Kafka; no
 * database is touched.
 * The buyer gets the RESERVED order once its event is on Kafka; if the publish fails or times out, the
 * reservation is taken back unless the order writer got the event first (settleUnpublished).
 */
export function createPurchase(deps: PurchaseDeps) {
  const { redis, stock, reservations, publisher } = deps;
  const log = deps.logger.child({ component: "flash-purchase" });
  const fence = createFlashFence(redis, { tombstoneSeconds: deps.tombstoneSeconds });

  /**
   * Claims the order id for this purchase: the pointer (`SET NX GET`) and whether a regular order holds the
   * key (same order id). Both commands are issued before this returns, so a script the caller issues next
   * leaves in the same write. `created`: this call wrote the pointer; `conflict`: the key names another purchase.
   */
  function claim(orderId: string, pointer: string): Promise<{ created: boolean; conflict: boolean }> {
    return Promise.all([
      redis.call("SET", orderPointerKey(orderId), pointer, "EX", deps.pointerTtlSeconds, "NX", "GET") as Promise<string | null>,
      redis.exists(reservationKey(orderId)),
    ]).then(([previous, regular]) => ({ created: previous === null, conflict: (previous !== null && previous !== pointer) || regular === 1 }));
  }

  /**
   * Gives back what the script took for a purchase that is refused after all (its key named another purchase,
   * or the claim failed): units and rate token, as if it never happened. If Redis fails here too, the
   * reservation stays, and the order pointer may not lead to it: it is logged for an operator.
   */
  async function giveBack(orderId: string, at: { saleId: string; productId: string }): Promise<void> {
    try {
      await reservations.releaseAt(at, orderId, { erase: true });
    } catch (error) {
      log.error({ err: error, orderId, ...at }, "could not give back the units of a refused purchase; release its reservation by hand");
    }
  }

  /**
   * Takes back a claim after a refusal, so the refused request leaves nothing behind. A concurrent twin (same
   * key and input) may have succeeded meanwhile; it keeps its pointer: either the twin writes it again after
   * its script (when it did not create it), or the check here finds its reservation and restores it.
   */
  async function unclaim(orderId: string, pointer: string, reservation: string): Promise<void> {
    const [, state] = await Promise.all([redis.del(orderPointerKey(orderId)), redis.hget(reservation, "state")]);
    if (state !== null && state !== "aborted") await redis.set(orderPointerKey(orderId), pointer, "EX", deps.pointerTtlSeconds);
  }

  async function existingOrder(placed: FlashOrderPlaced, state: string): Promise<OrderRecord> {
    const stored = await deps.prisma.order.findUnique({ where: { id: placed.orderId }, include: { items: { orderBy: { productId: "asc" } } } });
    if (stored) return stored;
    if (state !== "reserved") return toOrderRecord(placed);
    // Not written yet: publish again (the writer ignores duplicates), so this answer is durable on its own
    // even if the first request's publish is still failing; then mark the reservation durable, so that request
    // cannot take it back any more (or learn here that it already did, and the event will be skipped).
    try {
      await publisher.publish(createEvent<FlashOrderEvent>("FlashOrderPlaced", placed.productId, placed));
    } catch (error) {
      throw outcomeUnknown(error);
    }
    // After a Redis loss between the script and here, the fence adopts the purchase into the reloaded item, or
    // refuses it (the order is written CANCELLED), or finds the item not reloaded yet (unknown: retry).
    const decided = await fence.decide([placed]);
    if (decided.cancel.length > 0) return { ...toOrderRecord(placed), status: "CANCELLED", cancelReason: FLASH_SOLD_OUT_REASON };
    if (decided.unloaded.length > 0) throw outcomeUnknown(new Error(`flash sale item of ${placed.orderId} not loaded`));
    if (decided.write.length === 0) throw nothingBought(new Error(`flash purchase ${placed.orderId} was taken back meanwhile`));
    return toOrderRecord(placed);
  }

  /**
   * The event was not acknowledged by the deadline (FLASH_PUBLISH_TIMEOUT_MS), yet kafkajs may still deliver it.
   * Taking the reservation back (flash_release.lua, abort) races the order writer's fence (flash_fence.lua) on
   * the reservation, and the first wins: taken back, the units return and the writer will skip the event, so
   * "nothing was bought" is true; already durable, the order is being written and the buyer gets it. Only when
   * Redis cannot answer (or lost the reservation) is the outcome unknown, and the buyer is told so.
   */
  async function settleUnpublished(order: FlashOrderPlaced, error: unknown): Promise<OrderRecord> {
    let outcome: Awaited<ReturnType<typeof reservations.releaseAt>>;
    try {
      outcome = await reservations.releaseAt(order, order.orderId, { abort: true });
    } catch (abortError) {
      log.error({ err: abortError, orderId: order.orderId }, "flash order neither published nor taken back; its outcome is unknown");
      throw outcomeUnknown(error);
    }
    if (outcome.ok) {
      log.warn({ err: error, orderId: order.orderId }, "flash order not published; its reservation was taken back");
      await redis.del(orderPointerKey(order.orderId)).catch(() => undefined);
      throw nothingBought(error);
    }
    if (outcome.reason === "already") {
      log.info({ err: error, orderId: order.orderId, state: outcome.state }, "flash order published late; it is being written");
      return toOrderRecord(order);
    }
    log.error({ err: error, orderId: order.orderId }, "flash order not published and its reservation is gone; its outcome is unknown");
    throw outcomeUnknown(error);
  }

  return async function purchase(userId: string, clientIp: string, input: FlashPurchaseInput): Promise<OrderRecord> {
    const waitMs = deps.ipLimit(clientIp);
    if (waitMs > 0) throw appError(ErrorCode.RATE_LIMITED, "Too many requests from this address.", { retryAfterMs: waitMs });

    const orderId = orderIdFor(userId, input.idempotencyKey);
    const requestHash = purchaseHash(input);
    const pointer = encodePointer({ saleId: input.flashSaleId, productId: input.productId, requestHash });
    const keys = itemKeys(input.flashSaleId, input.productId);
    const nowMs = deps.now();
    const args = {
      saleId: input.flashSaleId,
      productId: input.productId,
      orderId,
      userId,
      idempotencyKey: input.idempotencyKey,
      quantity: input.quantity,
      requestHash,
      nowMs,
      expiresAtMs: nowMs + deps.reservationTtlSeconds * 1000,
      rate: deps.rate,
      burst: deps.burst,
    };
    // One round trip to Redis: the claim and the script leave in the same write (common/redis.ts), so the script
    // runs before the claim's answer is known. When the key names another purchase (a client reusing it, which
    // is rare), what the script took is given back before the buyer hears IDEMPOTENCY_KEY_REUSED.
    const [claiming, scripting] = await Promise.allSettled([claim(orderId, pointer), stock.purchase(args)]);
    if (claiming.status === "rejected" || claiming.value.conflict) {
      if (scripting.status === "fulfilled" && scripting.value.ok) await giveBack(orderId, { saleId: input.flashSaleId, productId: input.productId });
      if (claiming.status === "rejected") throw claiming.reason;
      if (claiming.value.created) await redis.del(orderPointerKey(orderId));
      throw keyReused();
    }
    const claimed = claiming.value.created;
    let result: PurchaseResult;
    try {
      if (scripting.status === "rejected") throw scripting.reason;
      result = scripting.value;
      if (!result.ok && result.reason === "not_loaded") {
        const sale = await deps.warmItem(input.flashSaleId, input.productId);
        result = await stock.purchase(args);
        // Not loadable because the sale ended: that is what the buyer needs to hear, not NOT_FOUND.
        if (sale && !result.ok && result.reason === "not_loaded")
          result = { ok: false, reason: "not_active", startsAtMs: sale.startsAt.getTime(), endsAtMs: sale.endsAt.getTime() };
      }
    } catch (error) {
      if (claimed) await unclaim(orderId, pointer, keys.reservation(orderId)).catch(() => undefined);
      throw error;
    }

    const placed = (priceCents: number, currency: string, createdAtMs: number, expiresAtMs: number): FlashOrderPlaced => ({
      orderId,
      userId,
      idempotencyKey: input.idempotencyKey,
      requestHash,
      saleId: input.flashSaleId,
      productId: input.productId,
      quantity: input.quantity,
      unitPriceCents: priceCents,
      currency,
      reservedUntil: iso(expiresAtMs),
      createdAt: iso(createdAtMs),
    });

    if (!result.ok) {
      if (result.reason === "exists") {
        const currency = (await redis.hget(keys.item, "currency")) ?? "USD";
        return existingOrder(placed(result.priceCents, currency, result.createdAtMs, result.expiresAtMs), result.state);
      }
      if (claimed) await unclaim(orderId, pointer, keys.reservation(orderId));
      throw refusal(result, input.productId);
    }
    if (!claimed) await redis.set(orderPointerKey(orderId), pointer, "EX", deps.pointerTtlSeconds);

    const order = placed(result.priceCents, result.currency, nowMs, args.expiresAtMs);
    try {
      await publisher.publish(createEvent<FlashOrderEvent>("FlashOrderPlaced", input.productId, order));
    } catch (error) {
      return settleUnpublished(order, error);
    }
    return toOrderRecord(order);
  };
}

export type Purchase = ReturnType<typeof createPurchase>;
