import { LRUCache } from "lru-cache";
import type { AddressList } from "../../../common/client-address.ts";

export interface IpLimitOptions {
  /** Requests per second one client IP may send (FLASH_IP_RATE, seed 000: 10). */
  rate: number;
  /** Bucket size (FLASH_IP_BURST; 0 means one second's worth). */
  burst: number;
  /** Client IPs remembered at once; the least recently seen are forgotten (default 100 000). */
  maxClients?: number;
  /** Client addresses this limit skips (RATE_LIMIT_EXEMPT, default none): load tests from one machine. */
  exempt?: AddressList;
  now?: () => number;
}

/**
 * The first defence layer: a token bucket per client IP, in this process, so a flood from one address is
 * refused before it costs a Redis round trip. Per process on purpose: with N instances an IP may send N times
 * the rate, which is still a bound, and the per-item bucket in Redis is the global limit behind it.
 */
export function createIpLimit(options: IpLimitOptions) {
  const now = options.now ?? Date.now;
  const capacity = options.burst > 0 ? options.burst : options.rate;
  const buckets = new LRUCache<string, { tokens: number; at: number }>({ max: options.maxClients ?? 100_000 });

  const exempt = options.exempt?.empty === false ? options.exempt : null;

  /** Takes one token for `ip`: 0 when allowed, otherwise the milliseconds until a token is there (nothing taken). */
  return function take(ip: string): number {
    if (exempt?.has(ip)) return 0;
    const t = now();
    const bucket = buckets.get(ip) ?? { tokens: capacity, at: t };
    // A clock that steps back (NTP, a test) must not drain buckets: elapsed time is never negative.
    const tokens = Math.min(capacity, bucket.tokens + (Math.max(0, t - bucket.at) * options.rate) / 1000);
    if (tokens < 1) return Math.ceil(((1 - tokens) * 1000) / options.rate);
    buckets.set(ip, { tokens: tokens - 1, at: t });
    return 0;
  };
}

export type IpLimit = ReturnType<typeof createIpLimit>;
