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
import { LOAD_ENV, runLoadPhase, type PhaseTarget } from "./phase.ts";
import type { Fault, FaultTargets } from "./faults.ts";
import type { PhaseResult } from "./table.ts";

// One chaos run: its own Redis, a proxy in front of PostgreSQL, optionally its own broker, the platform as
// processes on them, then per fault one phase of phase.ts: fresh products and a sale, load, the fault, the end
// of the load, quiescence, and the invariants.

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
    ...LOAD_ENV,
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

  const target: PhaseTarget = {
    routerUrl: platform.routerUrl,
    jwtSecret: config.JWT_SECRET,
    db,
    redis: reader,
    kafka: kafkaCtx,
    // A service the fault crashed is started again before quiescence is awaited; the phase then fails on it.
    async crashed() {
      const dead = platform.dead();
      for (const name of dead) await platform.restart(name, "SIGKILL", async () => undefined);
      return dead;
    },
  };

  async function runPhase(fault: Fault): Promise<PhaseResult> {
    log(`chaos: ${fault.name}`);
    const { result } = await runLoadPhase(
      target,
      { name: fault.name, inject: (scenario) => fault.inject(targets, scenario) },
      {
        stocks: [40, 40, 400],
        sale: { stock: 100, quantity: 40 },
        beforeMs: options.beforeMs,
        afterMs: options.afterMs,
        quiescenceMs: options.quiescenceMs,
      },
    );
    return result;
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
