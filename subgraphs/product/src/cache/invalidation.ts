import type { Redis, RedisOptions } from "ioredis";
import type { Logger } from "../../../../common/logger.ts";
import { createSubscriber, isCluster, shardedMessageEvent, subscribeSharded } from "../../../../common/redis.ts";
import type { ProductMetrics } from "../metrics.ts";
import type { ProductCache } from "./product-cache.ts";

/**
 * A connection for pub/sub only (common/redis.ts `createSubscriber`: sharded pub/sub on a Redis Cluster). We
 * resubscribe ourselves (`autoResubscribe: false`) so that every reconnect passes through
 * `listenForInvalidations`, which must clear L1 before trusting it again.
 */
export function createSubscriberConnection(address: string, overrides: RedisOptions = {}): Redis {
  return createSubscriber(address, overrides);
}

export function parseInvalidation(message: string): string[] | null {
  try {
    const parsed = JSON.parse(message) as { ids?: unknown };
    return Array.isArray(parsed.ids) && parsed.ids.every((id) => typeof id === "string") ? (parsed.ids as string[]) : null;
  } catch {
    return null;
  }
}

export interface InvalidationListenerDeps {
  subscriber: Redis;
  channel: string;
  cache: ProductCache;
  metrics: ProductMetrics;
  logger: Logger;
  /** Longest `listenForInvalidations` waits for the first subscription, in ms (default 5 000). */
  startTimeoutMs?: number;
}

/**
 * Drops products from this process's L1 when any instance announces a change. While the connection
 * is down, L1 is bypassed; on every (re)subscription L1 is cleared first, because invalidations sent
 * while we were away are lost (Redis pub/sub keeps nothing for absent subscribers).
 */
export async function listenForInvalidations(deps: InvalidationListenerDeps): Promise<{ close: () => Promise<void> }> {
  const { subscriber, channel, cache, metrics } = deps;
  const log = deps.logger.child({ component: "cache-invalidation", channel });
  let closed = false;
  let subscriptions = 0;
  let firstSubscription: (value: void) => void = () => undefined;
  const subscribed = new Promise<void>((resolve) => (firstSubscription = resolve));

  subscriber.on(shardedMessageEvent(subscriber), (from: string, message: string) => {
    if (from !== channel) return;
    const ids = parseInvalidation(message);
    if (ids) {
      cache.dropLocal(ids);
      metrics.cacheInvalidations.inc({ reason: "pubsub" }, ids.length);
      return;
    }
    log.warn({ message: message.slice(0, 200) }, "unreadable invalidation; clearing L1");
    cache.clearLocal();
    metrics.cacheInvalidations.inc({ reason: "clear" });
  });
  subscriber.on("close", () => {
    if (cache.live) log.warn("invalidation connection lost; L1 bypassed until it is back");
    cache.setLive(false);
  });
  subscriber.on("error", (err) => log.warn({ err }, "invalidation connection error"));

  const subscribe = async () => {
    try {
      await subscribeSharded(subscriber, channel);
      cache.clearLocal();
      if (subscriptions++ > 0) metrics.cacheInvalidations.inc({ reason: "clear" });
      if (!closed) cache.setLive(true);
      firstSubscription();
    } catch (err) {
      log.warn({ err }, "could not subscribe to invalidations; will retry on reconnect");
    }
  };
  subscriber.on("ready", () => void subscribe());
  if (subscriber.status === "ready") void subscribe();
  if (isCluster(subscriber)) followClusterSubscribers(subscriber, { cache, log, resubscribe: subscribe, closed: () => closed });

  const timeoutMs = deps.startTimeoutMs ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    subscribed,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no subscription to ${channel} within ${timeoutMs} ms`)), timeoutMs))),
  ]).finally(() => clearTimeout(timer));

  return {
    close: async () => {
      closed = true;
      cache.setLive(false);
      subscriber.disconnect(); // nothing to flush on a subscriber; quit would wait out a reconnect
    },
  };
}

/**
 * On a Redis Cluster the sharded subscription lives on the node that owns the channel's slot, and ioredis moves it
 * when that node goes (a failover). Messages published meanwhile are lost, so from the moment its connection ends
 * ("-node", "-subscriber") L1 is bypassed, and it is trusted again only after a new SSUBSCRIBE was answered (which
 * clears it first), tried again until it is.
 */
function followClusterSubscribers(
  subscriber: Redis,
  deps: { cache: ProductCache; log: Logger; resubscribe: () => Promise<void>; closed: () => boolean },
) {
  let pending: NodeJS.Timeout | undefined;
  const resync = (delayMs: number) => {
    if (pending || deps.closed()) return;
    pending = setTimeout(() => {
      pending = undefined;
      if (deps.closed()) return;
      const attempt = Promise.race([
        deps.resubscribe(),
        new Promise((_, reject) => setTimeout(() => reject(new Error("resubscribe timed out")), 2_000).unref()),
      ]);
      attempt.then(
        () => (deps.cache.live ? undefined : resync(Math.min(delayMs * 2, 2_000))),
        () => resync(Math.min(delayMs * 2, 2_000)),
      );
    }, delayMs);
    pending.unref();
  };
  const lost = () => {
    if (deps.cache.live) deps.log.warn("an invalidation subscriber lost its node; L1 bypassed until it is back");
    deps.cache.setLive(false);
    resync(200);
  };
  subscriber.on("-node", lost);
  subscriber.on("-subscriber", lost);
  subscriber.on("subscribersReady", () => resync(0));
}
