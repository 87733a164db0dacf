import type pg from "pg";
import type { Redis } from "../../common/redis.ts";
import type { KafkaContext } from "../../common/kafka/client.ts";
import { createScenario, startLoad, type Ledger, type LoadOptions, type Scenario } from "./load.ts";
import { waitForQuiescence } from "./quiescence.ts";
import { checkInvariants, type Check } from "./invariants.ts";
import { lostEventsDetail } from "./lost-events.ts";
import type { PhaseResult } from "./table.ts";

// One phase of load with a fault in the middle, on whatever platform `target` names (the chaos suite's processes
// on one Redis and one broker, or the cluster stack behind HAProxy on a Redis Cluster and three brokers): fresh
// products and a sale, load, the fault, more load, the end of the load, quiescence, and the invariants.

/** The settings a platform under this load runs with: reservations outlive the phase, no client is rate limited. */
export const LOAD_ENV = {
  PAYMENT_LATENCY_MS: "50",
  RESERVATION_TTL_SECONDS: "600",
  FLASH_WARMUP_INTERVAL_MS: "2000",
  RATE_LIMIT_EXEMPT: "127.0.0.0/8,::1/128",
  FLASH_IP_RATE: "100000",
  ROUTER_USER_RATE: "1000",
  ROUTER_USER_BURST: "1000",
} as const;

export interface PhaseTarget {
  /** Where the clients send their operations (a router, or HAProxy in front of several). */
  routerUrl: string;
  jwtSecret: string;
  /** PostgreSQL, directly (not through a proxy a fault may cut). */
  db: pg.Client;
  redis: Redis;
  /** The platform's topics and consumer groups (its prefix), for the consumers' lag. */
  kafka: KafkaContext;
  /** Called once the load stopped: the services that crashed on the fault (restarted by then, if the target can). */
  crashed?: () => Promise<string[]>;
}

export interface PhaseFault {
  name: string;
  /** Injects the fault while the load runs and resolves once it is over; may return an extra check. */
  inject: (scenario: Scenario, ledger: Ledger) => Promise<Check | void>;
}

export interface PhaseOptions {
  /** Regular products' stock (default 40, 40, 400) and the sale item's (default 100 units, 40 of them on sale). */
  stocks?: number[];
  sale?: { stock: number; quantity: number };
  /** Makes the phase's products and sale instead (default: `createScenario` with `stocks` and `sale`). */
  scenario?: () => Promise<Scenario>;
  load?: Pick<LoadOptions, "buyers" | "crowd" | "retryBudgetMs">;
  /** Load before the fault and after it, in ms (default 2 000 and 3 000). */
  beforeMs?: number;
  afterMs?: number;
  quiescenceMs?: number;
}

export interface PhaseOutcome {
  result: PhaseResult;
  /** What the clients were told (absent when the phase failed before the load started). */
  ledger?: Ledger;
  scenario?: Scenario;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLoadPhase(target: PhaseTarget, fault: PhaseFault, options: PhaseOptions = {}): Promise<PhaseOutcome> {
  const since = new Date(Date.now() - 1_000);
  const started = Date.now();
  let scenario: Scenario | undefined;
  try {
    scenario = options.scenario
      ? await options.scenario()
      : await createScenario(target.routerUrl, target.jwtSecret, options.stocks ?? [40, 40, 400], options.sale ?? { stock: 100, quantity: 40 });
    const load = startLoad({ url: target.routerUrl, jwtSecret: target.jwtSecret, scenario, ...options.load });
    await sleep(options.beforeMs ?? 2_000);
    const extra = await fault.inject(scenario, load.ledger).catch((error: unknown) => ({ name: "fault injected", ok: false, detail: String(error) }));
    await sleep(options.afterMs ?? 3_000);
    const ledger = await load.stop();
    const crashed = (await target.crashed?.()) ?? [];
    const q = await waitForQuiescence(target.db, target.kafka, options.quiescenceMs ?? 120_000);
    const quiescence = {
      name: "quiescent",
      ok: q.quiet && crashed.length === 0,
      detail: `${q.quiet ? "reached" : "NOT reached"} in ${(q.ms / 1000).toFixed(1)} s: ${JSON.stringify(q.left)}${crashed.length ? `; crashed on the fault: ${crashed.join(", ")}` : ""}; phase ${((Date.now() - started) / 1000).toFixed(0)} s, ${ledger.orders.length} orders, ${ledger.actions.length} payments/cancels`,
    };
    const checks = await checkInvariants({ db: target.db, redis: target.redis, routerUrl: target.routerUrl, scenario, ledger, since });
    const lost = checks.find((c) => c.name === "no event lost" && !c.ok);
    if (lost) lost.detail += await lostEventsDetail(target.db, target.kafka, since).catch((error: unknown) => `; not located: ${String(error)}`);
    return { result: { fault: fault.name, quiescence, checks: extra ? [...checks, extra] : checks }, ledger, scenario };
  } catch (error) {
    return {
      result: {
        fault: fault.name,
        quiescence: { name: "quiescent", ok: false, detail: "phase did not complete" },
        checks: [],
        error: error instanceof Error ? error.message : String(error),
      },
      scenario,
    };
  }
}
