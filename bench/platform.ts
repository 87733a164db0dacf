import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { Redis, type Cluster } from "ioredis";
import { loadConfig } from "../common/config.ts";
import { createLogger, type Logger } from "../common/logger.ts";
import { createRedis } from "../common/redis.ts";
import { clusterNodesOf } from "../common/redis-address.ts";
import { infraUp, ROOT } from "../scripts/env.ts";
import { createServices, SERVICE_NAMES, withFreePorts } from "../scripts/services.ts";
import { prepare } from "../scripts/prepare.ts";

/**
 * Where the order service writes its development mails (one `.eml` per order) during a bench: in memory when
 * the machine has /dev/shm. Creating a file on this VM's disk costs 0.2-1 ms of CPU and swings with the
 * filesystem's state, and a flash-sale bench writes one per purchase; that measured the disk, not the
 * platform. Emptied when a bench starts and when it stops.
 */
export const BENCH_MAIL_DIR = process.env.BENCH_MAIL_DIR ?? (existsSync("/dev/shm") ? "/dev/shm/flashgraph-bench-mail" : `${ROOT}.infra/bench-mail`);

/**
 * What `NODE_ENV=production` requires of a bench's processes (docs/edge-protection.md): secrets of its own,
 * fresh each run, and an origin list. Bench clients sign their tokens with the same `JWT_SECRET`.
 */
export const productionSecrets = (): Record<string, string> => ({
  JWT_SECRET: randomBytes(32).toString("hex"),
  INTERNAL_SECRET: randomBytes(32).toString("hex"),
  PAYMENT_WEBHOOK_SECRET: randomBytes(32).toString("hex"),
  CORS_ORIGINS: "https://bench.flashgraph.invalid",
});

/**
 * A bench loads the platform from this one machine: loopback is exempt from the per-IP limits (API.md,
 * RATE_LIMIT_EXEMPT), so it measures the platform rather than the limiter. Per-user limits still apply; the
 * benches spread their requests over enough users to stay under them.
 */
export const BENCH_RATE_LIMITS = { RATE_LIMIT_EXEMPT: "127.0.0.0/8,::1/128" };

/**
 * What bench:flash's services run with: the per-IP limit (10/s) would refuse nearly everything from one load
 * generator, so it is raised, as a deployment behind a trusted proxy would. The sale's own bucket is raised too
 * unless BENCH_SALE_RATE says otherwise, so every attempt exercises the whole purchase path (script + Kafka), not
 * the cheap refusal.
 */
export const flashBenchServices = (): Record<string, string> => ({
  FLASH_IP_RATE: "1000000",
  FLASH_SALE_RATE: process.env.BENCH_SALE_RATE ?? "1000000",
});

/**
 * Benchmarks run the services as separate processes (as in production) on free ports, against their own
 * database (<name>_bench), Redis database (BENCH_REDIS_DB, default 15), mail directory and topic prefix (`bench.`), so they
 * never touch what `npm start` or `npm test` use. Every run starts empty: orders left by an earlier run would
 * expire during this one and their expiry work would be measured as this run's.
 */
export async function benchEnv(logger: Logger, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env = infraUp();
  const redisUrl = new URL(env.REDIS_URL ?? "redis://127.0.0.1:6379");
  redisUrl.pathname = `/${process.env.BENCH_REDIS_DB ?? 15}`;
  return prepareBenchEnv(env, logger, { database: "bench", mailDir: BENCH_MAIL_DIR }, { REDIS_URL: redisUrl.toString(), ...extra });
}

/**
 * `infra` (what infra.sh or the cluster infrastructure wrote) completed into a bench's environment: the database
 * `<name>_<database>`, the mail directory, `bench.` topics, production mode with fresh secrets; then migrations,
 * topics, and an empty database and Redis (`emptyBenchState`). The cluster benches (bench/cluster.ts) use
 * `bench_cluster`, so a single-node bench running meanwhile keeps its database.
 */
export async function prepareBenchEnv(
  infra: NodeJS.ProcessEnv,
  logger: Logger,
  where: { database: string; mailDir: string },
  extra: Record<string, string> = {},
): Promise<NodeJS.ProcessEnv> {
  const env = { ...infra };
  const dbUrl = new URL(env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/flashgraph");
  dbUrl.pathname = `${dbUrl.pathname.replace(/_(test|bench|bench_cluster)$/, "")}_${where.database}`;
  rmSync(where.mailDir, { recursive: true, force: true });
  Object.assign(env, {
    DATABASE_URL: dbUrl.toString(),
    MAIL_DIR: where.mailDir,
    KAFKA_TOPIC_PREFIX: "bench.",
    NODE_ENV: "production",
    ...productionSecrets(),
    LOG_LEVEL: "error",
    SEED: "false",
    ...BENCH_RATE_LIMITS,
    // Benches send their own documents, which no manifest lists (production's default is `required`).
    PERSISTED_DOCUMENTS: "optional",
    ...extra,
  });
  await prepare(loadConfig(env), logger);
  await emptyBenchState(env);
  return env;
}

/**
 * Empties a bench's database (every table but the migrations') and its Redis: the bench database of one server,
 * or every master of a Redis Cluster (a cluster has only database 0; the cluster benches' cluster is their own).
 */
export async function emptyBenchState(env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadConfig(env);
  const db = new pg.Client({ connectionString: config.DATABASE_URL });
  await db.connect();
  try {
    const { rows } = await db.query<{ name: string }>(
      "SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'",
    );
    await db.query(`TRUNCATE ${rows.map((r) => r.name).join(", ")} RESTART IDENTITY CASCADE`);
  } finally {
    await db.end();
  }
  if (!clusterNodesOf(config.REDIS_URL)) {
    const redis = new Redis(config.REDIS_URL);
    await redis.flushdb();
    redis.disconnect();
    return;
  }
  // ASYNC: the keys are gone at once and freed in the background, within the client's command timeout.
  const redis = createRedis(config.REDIS_URL) as unknown as Cluster;
  try {
    if (redis.status !== "ready") await new Promise((resolve) => redis.once("ready", resolve));
    await Promise.all(redis.nodes("master").map((node) => node.flushdb("ASYNC")));
  } finally {
    redis.disconnect();
  }
}

export async function waitFor(url: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1_000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Services a killed bench left running (their parent is gone, their environment says bench): they would
 * consume this run's events in its consumer groups and skew every number, so they are stopped first.
 */
export function stopOrphans() {
  for (const pid of readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)) {
    try {
      const ppid = Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
      if (ppid === 1 && readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes("KAFKA_TOPIC_PREFIX=bench.")) process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
}

/** Starts every composed subgraph and the router as child processes (scripts/services.ts, as `npm start` does). */
export async function startPlatform(env: NodeJS.ProcessEnv, extra: Record<string, string> = {}) {
  stopOrphans();
  // BENCH_PROFILE=<service>[,<service>...] writes a V8 CPU profile of each to .infra/profiles when it stops.
  const nodeArgs = (name: string) =>
    process.env.BENCH_PROFILE?.split(",").includes(name) ? ["--cpu-prof", `--cpu-prof-dir=${ROOT}.infra/profiles`] : [];
  const services = createServices({ env: await withFreePorts({ ...env, ...extra }), logger: createLogger("bench", "info"), nodeArgs });
  // The services go down with the bench, however it ends (createServices kills them when this process exits).
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => process.exit(130));
  await services.start();
  return {
    url: services.routerUrl,
    ports: services.ports,
    /**
     * CPU time (user + system, ms) used so far by each service, the bench process itself and the
     * infrastructure (PostgreSQL summed over its processes); diff two of these around a phase.
     */
    cpu: () => {
      const pids = (pattern: string) => {
        try {
          return execFileSync("pgrep", ["-f", pattern], { encoding: "utf8" }).split("\n").filter(Boolean).map(Number);
        } catch {
          return [];
        }
      };
      const sum = (list: number[]) => list.reduce((total, pid) => total + cpuMsOf(pid), 0);
      const usage = process.cpuUsage();
      return {
        ...Object.fromEntries(SERVICE_NAMES.map((name) => [name, cpuMsOf(services.pid(name)!)])),
        bench: (usage.user + usage.system) / 1000,
        redis: sum(pids("redis-server")),
        kafka: sum(pids("kafka.Kafka")),
        postgres: sum(pids("^postgres")),
      } as Record<string, number>;
    },
    /** Resident memory of one service's process, in bytes. */
    rss: (name: string) => {
      const status = readFileSync(`/proc/${services.pid(name)}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    stop: async () => {
      await services.stop();
      rmSync(BENCH_MAIL_DIR, { recursive: true, force: true });
    },
  };
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
export function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0; // the process has exited
  }
}

/** Percentile of an ascending-sorted array. */
export const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;
