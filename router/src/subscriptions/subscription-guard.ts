import type http from "node:http";
import { Counter, type Registry } from "prom-client";
import { GraphQLError } from "graphql";
import type { Logger } from "../../../common/logger.ts";

/** What one client may hold open; 0 turns a cap off. Config: the WS_* variables (common/config.ts). */
export interface SubscriptionLimits {
  /**
   * Sockets plus multipart streams open at once from one client address (default 200). Many buyers behind
   * one NAT (an office, a campus, a mobile carrier) share an address, so this is far above one user's need
   * and only stops one host from holding thousands; addresses in RATE_LIMIT_EXEMPT are not counted.
   */
  maxSocketsPerIp?: number;
  /** Sockets plus multipart streams open at once for one user, across every socket (default 10: a few tabs and apps). */
  maxSocketsPerUser?: number;
  /** Active subscriptions of one user across all their sockets and streams (default 200; 100 per socket as well). */
  maxSubscriptionsPerUser?: number;
  /**
   * Active subscriptions from one client address, signed in or not, across its sockets and streams (default
   * 2 000: ten per socket of a full address); addresses in RATE_LIMIT_EXEMPT are not counted.
   */
  maxSubscriptionsPerIp?: number;
  /**
   * Bytes written to a socket or stream that its client has not yet taken (default 1 MiB). A client past it
   * reads slower than events arrive; it is dropped rather than kept in router memory.
   */
  maxBufferedBytes?: number;
}

export const DEFAULT_SUBSCRIPTION_LIMITS: Required<SubscriptionLimits> = {
  maxSocketsPerIp: 200,
  maxSocketsPerUser: 10,
  maxSubscriptionsPerUser: 200,
  maxSubscriptionsPerIp: 2_000,
  maxBufferedBytes: 1024 * 1024,
};

/** Gives a claimed slot back; calling it again does nothing. */
export type Release = () => void;

/** Counts per key (an address, a user id) against a cap; a claim over the cap is refused with null. */
function counter(cap: number) {
  const counts = new Map<string, number>();
  return (key: string): Release | null => {
    if (cap <= 0) return () => undefined;
    const count = counts.get(key) ?? 0;
    if (count >= cap) return null;
    counts.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (counts.get(key) ?? 1) - 1;
      if (left > 0) counts.set(key, left);
      else counts.delete(key);
    };
  };
}

/** The error a subscription over a cap is refused with: retrying helps only once another one has ended. */
export const capError = (message: string) => new GraphQLError(message, { extensions: { code: "RATE_LIMITED", retryAfterMs: 1_000 } });

export interface SubscriptionGuardOptions extends SubscriptionLimits {
  logger: Logger;
  /** The router's metrics registry; the guard's counters are registered on it. */
  registry?: Registry;
  /** The client address of a request (common/client-address.ts; default: the socket's peer). */
  clientAddressOf?: (req: http.IncomingMessage) => string;
  /** Addresses the per-address cap skips (RATE_LIMIT_EXEMPT; default none). */
  isExempt?: (address: string) => boolean;
}

/**
 * The caps and the slow-reader bound shared by both subscription transports (websocket.ts, multipart.ts): a
 * multipart stream counts as one socket holding one subscription.
 */
export function createSubscriptionGuard(options: SubscriptionGuardOptions) {
  const limits = { ...DEFAULT_SUBSCRIPTION_LIMITS, ...stripUndefined(options) };
  const perAddress = counter(limits.maxSocketsPerIp);
  const perUser = counter(limits.maxSocketsPerUser);
  const subscriptionsPerUser = counter(limits.maxSubscriptionsPerUser);
  const subscriptionsPerAddress = counter(limits.maxSubscriptionsPerIp);
  const registers = options.registry ? [options.registry] : [];
  const refused = new Counter({
    name: "router_subscription_refused_total",
    help: "Sockets, streams and subscriptions refused at a cap, by cap.",
    labelNames: ["cap"],
    registers,
  });
  const dropped = new Counter({
    name: "router_subscription_slow_readers_dropped_total",
    help: "Sockets and multipart streams dropped because their client read slower than events arrived, by transport.",
    labelNames: ["transport"],
    registers,
  });
  const refuse = (cap: string) => (refused.inc({ cap }), null);

  return {
    limits,
    clientAddressOf: options.clientAddressOf ?? ((req: http.IncomingMessage) => req.socket.remoteAddress ?? "unknown"),
    /** A slot for one socket or stream from `address`, or null at the cap. */
    claimAddress: (address: string): Release | null =>
      options.isExempt?.(address) ? () => undefined : (perAddress(address) ?? refuse("sockets_per_ip")),
    /** A slot for one socket or stream of a user, or null at the cap. */
    claimUser: (userId: string): Release | null => perUser(userId) ?? refuse("sockets_per_user"),
    /**
     * A slot for one active subscription from `address` and, signed in, of its user; or a message saying which
     * cap refused it (nothing is held then).
     */
    claimSubscription(address: string, userId: string | undefined): Release | string {
      const byAddress = options.isExempt?.(address) ? () => undefined : subscriptionsPerAddress(address);
      if (!byAddress) return (refuse("subscriptions_per_ip"), `At most ${limits.maxSubscriptionsPerIp} subscriptions per address.`);
      if (userId === undefined) return byAddress;
      const byUser = subscriptionsPerUser(userId);
      if (!byUser) return (byAddress(), refuse("subscriptions_per_user"), `At most ${limits.maxSubscriptionsPerUser} subscriptions per user.`);
      return () => (byAddress(), byUser());
    },
    /** True when a client has left more than the bound unread. */
    overBuffered: (writableLength: number) => writableLength > limits.maxBufferedBytes,
    /** Records a slow reader being dropped. */
    dropped(transport: "websocket" | "multipart", details: { address: string; userId?: string; bufferedBytes: number }) {
      dropped.inc({ transport });
      options.logger.warn({ transport, ...details, maxBufferedBytes: limits.maxBufferedBytes }, "slow subscription reader dropped");
    },
  };
}

export type SubscriptionGuard = ReturnType<typeof createSubscriptionGuard>;

function stripUndefined(limits: SubscriptionLimits): SubscriptionLimits {
  const { maxSocketsPerIp, maxSocketsPerUser, maxSubscriptionsPerUser, maxSubscriptionsPerIp, maxBufferedBytes } = limits;
  return Object.fromEntries(
    Object.entries({ maxSocketsPerIp, maxSocketsPerUser, maxSubscriptionsPerUser, maxSubscriptionsPerIp, maxBufferedBytes }).filter(
      ([, v]) => v !== undefined,
    ),
  );
}

/** Longest delay a Node.js timer takes (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Runs `onExpiry` at `expiresAt` (ms since the epoch), however far away; returns what cancels it. */
export function untilExpiry(expiresAt: number, onExpiry: () => void, now: () => number = Date.now): Release {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const delay = expiresAt - now();
    timer = delay > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(onExpiry, Math.max(0, delay));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
