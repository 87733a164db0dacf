import { randomUUID } from "node:crypto";
import { Repeater } from "@repeaterjs/repeater";
import { GraphQLError, type DocumentNode, type ExecutionResult } from "graphql";
import { Counter, type Registry } from "prom-client";
import { ANONYMOUS } from "../../../common/identity.ts";
import { formatResult } from "./format.ts";
import type { Logger } from "../../../common/logger.ts";
import type { RouterContext } from "../context.ts";
import type { SubscriptionPlanner, SubscriptionPlan } from "./planner.ts";
import type { Upstreams } from "./upstream.ts";
import type { createEventExecutor } from "./execute-event.ts";
import { forwardedHeaders, type IdentitySigner } from "../forwarding.ts";

export interface SubscribeArgs {
  document: DocumentNode;
  source: string;
  operationName?: string | null;
  variables: Record<string, unknown>;
  context: RouterContext;
}

/**
 * Subscribers with the same operation, variables and identity share one upstream subscription and one
 * execution per event; the result is fanned out. A subscription whose root field the supergraph marks `@public`
 * (its result is the same whoever asks: `stockChanged`, `flashSaleChanged`) is shared across identities: it
 * runs as an anonymous caller, so nothing a subscriber's identity would add can reach another subscriber.
 * Personal ones (`orderStatusChanged`) stay per identity. A subscriber that joins late first gets the latest
 * result per entity (keyed by `REPLAY_KEYS`), so "the first event is the current value" holds for them
 * too. That needs the key in the selection: an operation that does not select it gets its own upstream.
 */
const REPLAY_KEYS: Record<string, string> = {
  stockChanged: "productId",
  flashSaleChanged: "id",
  orderStatusChanged: "id",
};

function replayKeyOf(plan: SubscriptionPlan): string | null {
  const key = REPLAY_KEYS[plan.rootField];
  const root = plan.operationContext.operation.selectionSet.selections[0];
  if (!key || root?.kind !== "Field") return null;
  const selected = root.selectionSet?.selections.some((s) => s.kind === "Field" && s.name.value === key && !s.alias);
  return selected ? key : null;
}

interface Shared {
  listeners: Set<(result: ExecutionResult) => void>;
  latest: Map<string, ExecutionResult>;
  stop: () => void;
}

export function createSubscriber(options: {
  planner: SubscriptionPlanner;
  upstreams: Upstreams;
  executeEvent: ReturnType<typeof createEventExecutor>;
  /** The router's identity signer (forwarding.ts). */
  sign: IdentitySigner;
  logger: Logger;
  /** Where `router_subscription_upstreams_total` is registered (the router's `/metrics`; default: none). */
  registry?: Registry;
}) {
  const { planner, upstreams, executeEvent, logger } = options;
  const shared = new Map<string, Shared>();
  const upstreamsStarted = new Counter({
    name: "router_subscription_upstreams_total",
    help: "Upstream subscriptions the router opened, by root field and sharing (public: across identities; identity: per identity).",
    labelNames: ["root_field", "sharing"],
    registers: options.registry ? [options.registry] : [],
  });

  function start(key: string, plan: SubscriptionPlan, args: SubscribeArgs): Shared {
    const entry: Shared = { listeners: new Set(), latest: new Map(), stop: () => undefined };
    // The first subscriber's request id names the shared upstream in logs; a public one never carries its identity.
    const context: RouterContext = plan.isPublic ? { ...args.context, identity: ANONYMOUS, sendNext: undefined } : args.context;
    upstreamsStarted.inc({ root_field: plan.rootField, sharing: plan.isPublic ? "public" : "identity" });
    const replayKey = replayKeyOf(plan);
    const broadcast = (result: ExecutionResult) => {
      const root = (result.data as Record<string, Record<string, unknown> | null> | null | undefined)?.[plan.rootField];
      if (replayKey && root?.[replayKey] !== undefined) entry.latest.set(String(root[replayKey]), result);
      for (const listener of entry.listeners) listener(result);
    };
    const run = async () => {
      const variables = Object.fromEntries((plan.primary.variableUsages ?? []).filter((v) => v in args.variables).map((v) => [v, args.variables[v]]));
      const upstream = upstreams.subscribe(plan.primary.serviceName, {
        query: plan.primary.operation,
        operationName: plan.primary.operationName,
        variables,
        // No client address: subscribers with the same operation and identity (any, for a public one) share this upstream.
        extensions: { headers: forwardedHeaders(options.sign, { identity: context.identity, requestId: context.requestId }) },
      });
      const iterator = upstream[Symbol.asyncIterator]();
      entry.stop = () => void iterator.return?.();
      try {
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          const event = next.value;
          if (!event.data) {
            broadcast({ errors: event.errors });
            continue;
          }
          broadcast(await executeEvent(plan, event.data as Record<string, unknown>, args.variables, context));
        }
        finish();
      } catch (error) {
        logger.warn({ err: error, rootField: plan.rootField }, "subscription upstream failed");
        broadcast({ errors: [new GraphQLError("Subscription source failed", { extensions: { code: "INTERNAL_SERVER_ERROR" } })] });
        finish();
      }
    };
    const finish = () => {
      shared.delete(key);
      for (const listener of entry.listeners) listener(END);
      entry.listeners.clear();
    };
    shared.set(key, entry);
    void run();
    return entry;
  }

  /** Resolves to a stream of results, or to a single result with errors when the operation is invalid. */
  return function subscribe(args: SubscribeArgs): AsyncIterable<ExecutionResult> | ExecutionResult {
    const plan = planner.plan(args.document, args.source, args.operationName);
    if (Array.isArray(plan)) return { errors: plan as GraphQLError[] };
    const subscriptionPlan = plan as SubscriptionPlan;
    const user = subscriptionPlan.isPublic ? null : args.context.identity.user;
    const key = replayKeyOf(subscriptionPlan)
      ? JSON.stringify([args.source, args.operationName ?? null, args.variables, user?.id ?? null, user?.roles ?? []])
      : randomUUID();
    const sendNext = args.context.sendNext;
    return new Repeater<ExecutionResult>(async (push, stop) => {
      const entry = shared.get(key) ?? start(key, subscriptionPlan, args);
      const deliver = sendNext
        ? (result: ExecutionResult) => sendNext(serialized(result, args.context))
        : (result: ExecutionResult) => void push(result);
      // Synchronously: the replay and the live listener are in place before any further event arrives.
      for (const result of entry.latest.values()) deliver(result);
      const listener = (result: ExecutionResult) => (result === END ? stop() : deliver(result));
      entry.listeners.add(listener);
      await stop;
      entry.listeners.delete(listener);
      if (entry.listeners.size === 0 && shared.get(key) === entry) {
        shared.delete(key);
        entry.stop();
      }
    });
  };
}

const END: ExecutionResult = Object.freeze({});

/**
 * One JSON text per shared result (errors masked as everywhere else), whatever the number of sockets: its errors
 * are logged once, with the request id of the subscriber it is first delivered to, which they name.
 */
const serializedResults = new WeakMap<ExecutionResult, string>();
function serialized(result: ExecutionResult, context: RouterContext): string {
  let json = serializedResults.get(result);
  if (json === undefined) {
    json = JSON.stringify(formatResult(result, context));
    serializedResults.set(result, json);
  }
  return json;
}
