import type { Platform } from "./platform.ts";
import type { Scenario } from "./load.ts";
import type { startOwnKafka, startOwnRedis, startPostgresProxy } from "./infra.ts";
import { restartRouterWithSubscriptions } from "./subscriptions.ts";

// The faults, each a small function over what the suite controls. A fault resolves once it is over (the
// broker, database or process is back); what the platform then still has to do is the quiescence's business.

export interface FaultTargets {
  platform: Platform;
  redis: Awaited<ReturnType<typeof startOwnRedis>>;
  postgres: Awaited<ReturnType<typeof startPostgresProxy>>;
  /** Absent when the suite runs on the shared broker (the short form in `npm test`). */
  kafka?: Awaited<ReturnType<typeof startOwnKafka>>;
  internalSecret: string;
}

export interface Fault {
  name: string;
  /** Injects the fault and resolves when it is over; may return an extra check (the subscriptions'). */
  inject: (t: FaultTargets, scenario: Scenario) => Promise<{ name: string; ok: boolean; detail: string } | void>;
}

const kafkaOf = (t: FaultTargets) => {
  if (!t.kafka) throw new Error("this fault needs the suite's own broker (npm run chaos)");
  return t.kafka;
};

export const FAULTS: Record<string, Fault> = {
  "kafka-pause": { name: "Kafka broker paused 10 s", inject: (t) => kafkaOf(t).pause(10_000) },
  "kafka-kill": { name: "Kafka broker kill -9, restarted", inject: (t) => kafkaOf(t).killAndRestart(2_000) },
  "redis-flushall": { name: "Redis FLUSHALL", inject: (t) => t.redis.flushAll() },
  "redis-restart": { name: "Redis restart (kill -9, empty)", inject: (t) => t.redis.restart(1_000) },
  "pg-cut-3s": { name: "PostgreSQL unreachable 3 s", inject: (t) => t.postgres.cut(3_000) },
  "pg-cut-15s": { name: "PostgreSQL unreachable 15 s", inject: (t) => t.postgres.cut(15_000) },
  ...Object.fromEntries(
    ["product", "inventory", "order", "flash-sale"].map((service) => [
      `kill-${service}`,
      { name: `${service} kill -9, restarted`, inject: (t: FaultTargets) => t.platform.restart(service, "SIGKILL") },
    ]),
  ),
  "router-restart": {
    name: "router restarted, subscriptions open",
    inject: async (t, scenario) => {
      const r = await restartRouterWithSubscriptions(t.platform, scenario, t.internalSecret);
      return {
        name: "subscriptions resume with the current value",
        ok: r.current === r.clients,
        detail: `${r.clients} clients: ${r.reconnected} reconnected, ${r.current} got the current value first`,
      };
    },
  },
};

/** Several faults at once. */
export const combined = (name: string, keys: string[]): Fault => ({
  name,
  inject: async (t, scenario) => {
    const results = await Promise.all(keys.map((k) => FAULTS[k]!.inject(t, scenario)));
    return results.find((r) => r) ?? undefined;
  },
});
