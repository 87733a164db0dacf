import { Repeater } from "@repeaterjs/repeater";
import type { Redis } from "ioredis";
import type { Logger } from "../../../common/logger.ts";
import { createCoalescer } from "../../../common/coalesce.ts";
import { notFound } from "../../../common/errors.ts";
import { parseInput, uuid } from "../../../common/validation.ts";
import { saleChannel } from "../../../common/orders/flash-keys.ts";
import type { SaleStock } from "./sale-stock.ts";
import type { SaleReader, SaleRecord } from "./sales.ts";

/** How often one sale's value may be sent to one subscriber, in ms (like stockChanged). */
export const SALE_COALESCE_MS = 100;

/** A sale with live remaining counts, as the FlashSale resolvers read it. */
export interface LiveSale extends SaleRecord {
  remaining: Map<string, number>;
  /** Redis has marked the sale ended (PostgreSQL's ended_at may follow a moment later). */
  endedLive: boolean;
}

interface ItemChange {
  productId: string;
  remaining: number;
  version: number;
  ended: boolean;
}

function parseChange(message: string): ItemChange | null {
  const [productId, remaining, version, ended] = message.split(" ");
  if (!productId || remaining === undefined || version === undefined) return null;
  return { productId, remaining: Number(remaining), version: Number(version), ended: ended === "1" };
}

/**
 * `flashSaleChanged`: the item scripts PUBLISH `<product> <remaining> <version> <ended>` on the sale's channel
 * in the same atomic step as the change (lua/flash_*.lua), so every change is announced, in order per item.
 * Redis pub/sub is the simplest correct carrier here: purchases already run in Redis, the message costs no
 * extra round trip, and every instance hears every change. It is at-most-once, so a subscription listens
 * before it reads the current values, ignores item versions it has already seen, and reads everything again
 * when the connection comes back. State changes by time (start, end) come from timers per subscription.
 */
export function createSaleChanges(deps: { subscriber: Redis; sales: SaleReader; stock: SaleStock; now: () => number; logger: Logger }) {
  const { subscriber } = deps;
  const listeners = new Map<string, Set<{ change: (c: ItemChange) => void; refresh: () => void }>>();
  const log = deps.logger.child({ component: "flash-sale-changes" });

  subscriber.on("message", (channel: string, message: string) => {
    const change = parseChange(message);
    const set = listeners.get(channel);
    if (change && set) for (const l of set) l.change(change);
  });
  const refreshAll = () => {
    for (const set of listeners.values()) for (const l of set) l.refresh();
  };
  subscriber.on("ready", refreshAll);
  // On a Redis Cluster the subscription moves to another node when its node goes, without a new "ready";
  // whatever was published meanwhile is lost, so every listener reads again (docs/scale-out.md).
  subscriber.on("-node", refreshAll);

  async function listen(saleId: string, listener: { change: (c: ItemChange) => void; refresh: () => void }) {
    const channel = saleChannel(saleId);
    let set = listeners.get(channel);
    if (!set) {
      listeners.set(channel, (set = new Set()));
      await subscriber.subscribe(channel);
    }
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) {
        listeners.delete(channel);
        subscriber.unsubscribe(channel).catch((error) => log.warn({ err: error, channel }, "unsubscribe failed"));
      }
    };
  }

  return async function subscribe(rawId: unknown): Promise<AsyncIterable<LiveSale>> {
    const saleId = parseInput(uuid, rawId, "id").toLowerCase();
    const items = new Map<string, { remaining: number; version: number }>();
    let endedLive = false;
    let sale: SaleRecord | null = null;
    let emit: () => void = () => undefined;

    const apply = (c: ItemChange) => {
      const known = items.get(c.productId);
      if (known && known.version >= c.version) return;
      items.set(c.productId, { remaining: c.remaining, version: c.version });
      endedLive ||= c.ended;
      emit();
    };
    const readAll = async () => {
      sale = await deps.sales.find(saleId);
      if (!sale) return;
      const live = await deps.stock.read(sale.items.map((i) => ({ saleId, productId: i.productId })));
      sale.items.forEach((item, i) => {
        const value = live[i];
        apply({ productId: item.productId, remaining: value?.remaining ?? 0, version: value?.version ?? 0, ended: false });
      });
      emit();
    };
    const unlisten = await listen(saleId, {
      change: apply,
      refresh: () => void readAll().catch((error) => log.warn({ err: error, saleId }, "refresh failed")),
    });
    try {
      await readAll();
    } catch (error) {
      unlisten();
      throw error;
    }
    if (!sale) {
      unlisten();
      throw notFound("Flash sale");
    }

    return new Repeater<LiveSale>(async (push, stop) => {
      let version = 0;
      const snapshot = (): LiveSale => ({ ...sale!, remaining: new Map([...items].map(([p, v]) => [p, v.remaining])), endedLive });
      const coalescer = createCoalescer<{ version: number; sale: LiveSale }>({
        intervalMs: SALE_COALESCE_MS,
        deliver: (_key, value) => void push(value.sale),
      });
      emit = () => coalescer.push(saleId, { version: ++version, sale: snapshot() });
      emit();
      // The state also changes by the clock alone: at startsAt and at endsAt.
      const timers = [sale!.startsAt, sale!.endsAt]
        .map((at) => at.getTime() - deps.now())
        .filter((ms) => ms > 0 && ms < 2 ** 31 - 1)
        .map((ms) => setTimeout(() => emit(), ms + 1));
      await stop;
      timers.forEach(clearTimeout);
      unlisten();
      coalescer.close();
    });
  };
}

export type SaleChanges = ReturnType<typeof createSaleChanges>;
