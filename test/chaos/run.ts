import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { Redis } from "ioredis";
import { loadConfig } from "../../common/config.ts";
import { createLogger } from "../../common/logger.ts";
import { createKafka, ensureTopics } from "../../common/kafka/client.ts";
import { startOwnKafka, startOwnRedis, startPostgresProxy } from "./infra.ts";
import { startPlatform } from "./platform.ts";
import { createScenario, startLoad } from "./load.ts";
import { waitForQuiescence } from "./quiescence.ts";
import { checkInvariants } from "./invariants.ts";
import type { Fault, FaultTargets } from "./faults.ts";
import type { PhaseResult } from "./table.ts";

// One chaos run: its own Redis, a proxy in front of PostgreSQL, optionally its own broker, the platform as
// processes on them, then per fault: fresh products and a sale, load, the fault, the end of the load,
// quiescence, and the invariants.

export interface ChaosOptions {
  /** The environment to start from: DATABASE_URL (the run's own database, migrated), KAFKA_BROKERS, KAFKA_TOPIC_PREFIX. */
  env: NodeJS.ProcessEnv;
  /** Start a broker of its own in this directory (needed by the Kafka faults); otherwise KAFKA_BROKERS is used. */
  kafkaDir?: string;
  root: string;
  /** Seconds of load before the fault and after it (default 2 and 3). */
  beforeMs?: number;
  afterMs?: number;
  quiescenceMs?: number;
  log?: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startChaos(options: ChaosOptions) {
  const log = options.log ?? (() => undefined);
  const directDb = options.env.DATABASE_URL!;
  const redis = await startOwnRedis();
  const postgres = await startPostgresProxy(directDb);
  const kafka = options.kafkaDir ? await startOwnKafka(options.root, options.kafkaDir) : undefined;
  const mailDir = mkdtempSync(path.join(tmpdir(), "flashgraph-chaos-mail-"));
  const env: NodeJS.ProcessEnv = {
    ...options.env,
    DATABASE_URL: postgres.url,
    REDIS_URL: redis.url,
    ...(kafka ? { KAFKA_BROKERS: kafka.brokers } : {}),
    LOG_LEVEL: "warn",
    SEED: "false",
    MAIL_DIR: mailDir,
    PAYMENT_LATENCY_MS: "50",
    RESERVATION_TTL_SECONDS: "600",
    FLASH_WARMUP_INTERVAL_MS: "2000",
    RATE_LIMIT_EXEMPT: "127.0.0.0/8,::1/128",
    FLASH_IP_RATE: "100000",
    ROUTER_USER_RATE: "1000",
    ROUTER_USER_BURST: "1000",
  };
  const config = loadConfig(env);
  const kafkaCtx = createKafka({
    brokers: config.KAFKA_BROKERS.split(","),
    clientId: "chaos",
    logger: createLogger("chaos", "silent"),
    topicPrefix: config.KAFKA_TOPIC_PREFIX,
  });
  if (kafka) {
    await ensureTopics(kafkaCtx, config.KAFKA_PARTITIONS);
  }
  log(
    `chaos: redis ${redis.url}, postgres proxy ${postgres.url.replace(/\/\/.*@/, "//")}, kafka ${config.KAFKA_BROKERS} prefix "${config.KAFKA_TOPIC_PREFIX}"`,
  );
  const platform = await startPlatform(env);
  const db = new pg.Client({ connectionString: directDb });
  await db.connect();
  const reader = new Redis(redis.url, { maxRetriesPerRequest: 3 });
  const targets: FaultTargets = { platform, redis, postgres, kafka, internalSecret: config.INTERNAL_SECRET };

  async function runPhase(fault: Fault): Promise<PhaseResult> {
    const since = new Date(Date.now() - 1_000);
    const started = Date.now();
    log(`chaos: ${fault.name}`);
    try {
      const scenario = await createScenario(platform.routerUrl, config.JWT_SECRET, [40, 40, 400], { stock: 100, quantity: 40 });
      const load = startLoad({ url: platform.routerUrl, jwtSecret: config.JWT_SECRET, scenario });
      await sleep(options.beforeMs ?? 2_000);
      const extra = await fault.inject(targets, scenario).catch((error: unknown) => ({ name: "fault injected", ok: false, detail: String(error) }));
      await sleep(options.afterMs ?? 3_000);
      const ledger = await load.stop();
      const crashed = platform.dead();
      for (const name of crashed) await platform.restart(name, "SIGKILL", async () => undefined);
      const q = await waitForQuiescence(db, kafkaCtx, options.quiescenceMs ?? 120_000);
      const quiescence = {
        name: "quiescent",
        ok: q.quiet && crashed.length === 0,
        detail: `${q.quiet ? "reached" : "NOT reached"} in ${(q.ms / 1000).toFixed(1)} s: ${JSON.stringify(q.left)}${crashed.length ? `; crashed on the fault: ${crashed.join(", ")}` : ""}; phase ${((Date.now() - started) / 1000).toFixed(0)} s, ${ledger.orders.length} orders, ${ledger.actions.length} payments/cancels`,
      };
      const checks = await checkInvariants({ db, redis: reader, routerUrl: platform.routerUrl, scenario, ledger, since });
      return { fault: fault.name, quiescence, checks: extra ? [...checks, extra] : checks };
    } catch (error) {
      return {
        fault: fault.name,
        quiescence: { name: "quiescent", ok: false, detail: "phase did not complete" },
        checks: [],
        error: error instanceof Error ? error.message : String(error),
      };
    }
  }

  return {
    env,
    platform,
    runPhase,
    async close() {
      await platform.stop();
      reader.disconnect();
      await db.end();
      await postgres.close();
      await redis.close();
      await kafka?.close();
      rmSync(mailDir, { recursive: true, force: true });
    },
  };
}
