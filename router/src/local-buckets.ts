import { LRUCache } from "lru-cache";

/** One bucket a request draws on: its key, refill rate (tokens/s) and size (tokens). */
export interface BucketSpec {
  key: string;
  rate: number;
  burst: number;
}

/**
 * The rate limits' stand-in while Redis does not answer (rate-limit.ts): the same token buckets as
 * lua/rate_limit.lua, with the same all-or-nothing rule and integer thousandths, kept in this process. With N
 * router instances a client gets N times its rate, which is still a bound, where admitting everything is none.
 */
export function createLocalBuckets(options: { maxKeys?: number } = {}) {
  const buckets = new LRUCache<string, { tokens: number; at: number }>({ max: options.maxKeys ?? 100_000 });

  /** Takes a token from every bucket: 0, or (taking nothing) the ms until all have one and the index that waits longest. */
  return function take(specs: readonly BucketSpec[], now: number): { waitMs: number; index: number } {
    let waitMs = 0;
    let index = -1;
    const states = specs.map((spec, i) => {
      const full = spec.burst * 1000;
      const stored = buckets.get(spec.key);
      // A clock that steps back (NTP, a test) must not drain buckets: elapsed time is never negative.
      const tokens = stored ? Math.min(full, stored.tokens + Math.floor(Math.max(0, now - stored.at) * spec.rate)) : full;
      const at = stored ? Math.max(stored.at, now) : now;
      if (tokens < 1000) {
        const wait = Math.ceil((1000 - tokens) / spec.rate);
        if (wait > waitMs) [waitMs, index] = [wait, i];
      }
      return { tokens, at };
    });
    if (waitMs > 0) return { waitMs, index };
    specs.forEach((spec, i) => buckets.set(spec.key, { tokens: states[i]!.tokens - 1000, at: states[i]!.at }));
    return { waitMs: 0, index: -1 };
  };
}
