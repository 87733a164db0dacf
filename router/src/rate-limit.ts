/**
 * The router's request-rate limits: a token bucket per client address and one per signed-in user, in Redis so
 * every router instance shares them (lua/rate_limit.lua, one round trip per request). Checked before the body is
 * read and before any path runs (graphql-route.ts), so a refused request costs one script call and a small
 * answer. When Redis does not answer in time (ROUTER_RATE_LIMIT_TIMEOUT_MS) the same buckets are kept in this
 * process instead (local-buckets.ts), with a log line when that starts and ends and a metric per request: a
 * router never refuses every buyer because Redis is down, nor admits a flood because Redis is slow, which is
 * when a storm makes it slow. With N instances a client then gets up to N times its rate.
 */
import type http from "node:http";
import { Counter } from "prom-client";
import { ErrorCode } from "../../common/errors.ts";
import { CLIENT_IP_HEADER } from "../../common/forwarded-headers.ts";
import type { AddressList } from "../../common/client-address.ts";
import type { Identity } from "../../common/identity.ts";
import type { Logger } from "../../common/logger.ts";
import type { Metrics } from "../../common/metrics.ts";
import { createRedis, defineScript, type Redis } from "../../common/redis.ts";
import { createLocalBuckets, type BucketSpec } from "./local-buckets.ts";

export interface RateLimitOptions {
  /**
   * The limits' own connection: a short command timeout (ROUTER_RATE_LIMIT_TIMEOUT_MS) and no offline queue, so
   * an unreachable Redis fails a check at once instead of holding the request.
   */
  redis: Redis;
  /** Requests per second one client address may send (ROUTER_IP_RATE, default 100; 0: no per-IP limit). */
  ipRate: number;
  /** Per-address bucket size (ROUTER_IP_BURST, default 300; 0 means one second's worth). */
  ipBurst: number;
  /** Requests per second one signed-in user may send, from any address (ROUTER_USER_RATE, default 20; 0: none). */
  userRate: number;
  /** Per-user bucket size (ROUTER_USER_BURST, default 60; 0 means one second's worth). */
  userBurst: number;
  /** Client addresses the per-IP limit skips (RATE_LIMIT_EXEMPT, default none); per-user limits still apply. */
  exempt: AddressList;
  /** How long the per-process buckets stand in after Redis failed, before it is asked again, in ms (default 1 000). */
  retryAfterFailureMs?: number;
  now?: () => number;
}

export interface RateLimitDeps {
  /** The caller's verified identity, once per request (server.ts). */
  identityOf: (req: http.IncomingMessage) => Promise<Identity>;
  metrics: Metrics;
  logger: Logger;
}

/** Admitted, or refused by the named bucket. */
export type RateVerdict = { ok: true } | { ok: false; reason: "ip" | "user"; retryAfterMs: number };

/**
 * The limits' connection: commands fail after `timeoutMs` and at once while disconnected (no offline queue), so
 * the check fails open instead of holding requests; connection errors are logged at debug level because
 * `createRateLimit` logs the fail-open state once, not once per reconnect attempt.
 */
export function createRateLimitRedis(url: string, timeoutMs: number, logger: Logger): Redis {
  const redis = createRedis(url, { commandTimeoutMs: timeoutMs, enableOfflineQueue: false });
  redis.on("error", (err: Error) => logger.debug({ err }, "rate-limit Redis connection error"));
  return redis;
}

/** The keys share the hash tag {rl}: one script touching several keys needs them on one Cluster slot. */
const ipKey = (address: string) => `{rl}:ip:${address}`;
const userKey = (id: string) => `{rl}:user:${id}`;
const capacity = (rate: number, burst: number) => (burst > 0 ? burst : rate);

export function createRateLimit(options: RateLimitOptions, deps: RateLimitDeps) {
  const now = options.now ?? Date.now;
  const script = defineScript(options.redis, "rate_limit");
  const local = createLocalBuckets();
  const limited = new Counter({
    name: "router_rate_limited_total",
    help: "Requests the router refused with RATE_LIMITED, by the bucket that refused them (ip, user).",
    labelNames: ["scope"],
    registers: [deps.metrics.registry],
  });
  const unavailable = new Counter({
    name: "router_rate_limit_unavailable_total",
    help: "Requests checked against this process's own buckets because Redis did not answer in time.",
    registers: [deps.metrics.registry],
  });
  let redisAfter = 0;
  let failing = false;

  /** Takes a token from the address's and the user's bucket, or from neither (lua/rate_limit.lua). */
  async function take(clientIp: string, userId: string | null): Promise<RateVerdict> {
    const specs: BucketSpec[] = [];
    const scopes: ("ip" | "user")[] = [];
    if (options.ipRate > 0 && (options.exempt.empty || !options.exempt.has(clientIp))) {
      specs.push({ key: ipKey(clientIp), rate: options.ipRate, burst: capacity(options.ipRate, options.ipBurst) });
      scopes.push("ip");
    }
    if (options.userRate > 0 && userId !== null) {
      specs.push({ key: userKey(userId), rate: options.userRate, burst: capacity(options.userRate, options.userBurst) });
      scopes.push("user");
    }
    if (specs.length === 0) return { ok: true };
    const t = now();
    let waitMs: number;
    let index: number;
    // Redis failed a moment ago: stay local for a while, so a hanging Redis does not add its timeout to every request.
    if (t < redisAfter) ({ waitMs, index } = takeLocally(specs, t));
    else {
      try {
        const args = [t, ...specs.flatMap((spec) => [spec.rate, spec.burst])];
        const [wait, refusedBy] = (await script(
          specs.map((spec) => spec.key),
          args,
        )) as [number, number?];
        [waitMs, index] = [wait, (refusedBy ?? 1) - 1];
        if (failing) {
          failing = false;
          deps.logger.info("rate limits shared again: Redis answers");
        }
      } catch (err) {
        redisAfter = now() + (options.retryAfterFailureMs ?? 1_000);
        if (!failing) {
          failing = true;
          deps.logger.warn({ err }, "rate limits fall back to per-process buckets: Redis does not answer");
        }
        ({ waitMs, index } = takeLocally(specs, t));
      }
    }
    if (waitMs === 0) return { ok: true };
    const reason = scopes[index] ?? "ip";
    limited.inc({ scope: reason });
    return { ok: false, reason, retryAfterMs: waitMs };
  }

  function takeLocally(specs: BucketSpec[], t: number) {
    unavailable.inc();
    return local(specs, t);
  }

  /**
   * graphql-route.ts's guard: true to go on, false when it answered RATE_LIMITED itself (HTTP 429, `Retry-After`
   * in whole seconds, `extensions.retryAfterMs` exact). The user is the verified token's subject, never a claim
   * the client could choose: a bad token counts only against its address.
   */
  async function admit(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    const clientIp = String(req.headers[CLIENT_IP_HEADER]);
    const identity = options.userRate > 0 && req.headers.authorization ? await deps.identityOf(req) : null;
    const verdict = await take(clientIp, identity?.user?.id ?? null);
    if (verdict.ok) return true;
    const message = verdict.reason === "ip" ? "Too many requests from this address." : "Too many requests from this user.";
    res.writeHead(429, { "content-type": "application/json", "retry-after": String(Math.ceil(verdict.retryAfterMs / 1000)) });
    res.end(JSON.stringify({ errors: [{ message, extensions: { code: ErrorCode.RATE_LIMITED, retryAfterMs: verdict.retryAfterMs } }] }));
    return false;
  }

  return { take, admit };
}

export type RateLimit = ReturnType<typeof createRateLimit>;
