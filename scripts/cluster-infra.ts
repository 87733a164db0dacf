import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./env.ts";

// The clusters `npm run start:cluster` and `npm run test:cluster` run on: a Redis Cluster of 3 masters + 3 replicas
// (scripts/redis-cluster.sh) and a 3-broker KRaft Kafka (scripts/infra.sh with KAFKA_NODES=3), plus the PostgreSQL
// infra.sh finds or starts. Everything lives under an infra directory of its own, so `.infra/env` (what `npm start`
// uses) is never rewritten, and `down()` stops exactly what `up` started.

export interface ClusterInfraOptions {
  /** First of the Redis Cluster's 6 ports. */
  redisPort: number;
  /** Kafka node i listens on kafkaPort + 2(i-1), its controller on kafkaControllerPort + 2(i-1). */
  kafkaPort: number;
  kafkaControllerPort: number;
  /** infra.sh's INFRA_DIR: env, the run record, the brokers' node directories. */
  infraDir: string;
}

export interface ClusterInfra {
  /** The process environment with the clusters: REDIS_CLUSTER_NODES, KAFKA_BROKERS (3), DATABASE_URL, ... */
  env: NodeJS.ProcessEnv;
  /** Stops the brokers and what else infra.sh started, then the Redis Cluster unless it was already running. */
  down(): void;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, capture = false) {
  const result = spawnSync(command, args, { cwd: ROOT, env, encoding: "utf8", stdio: capture ? ["ignore", "pipe", "inherit"] : "inherit" });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (exit ${result.status})`);
  return result.stdout ?? "";
}

export interface RedisClusterUp {
  /** REDIS_CLUSTER_NODES of the cluster: its six `127.0.0.1:port`. */
  nodes: string;
  /** Stops the cluster unless it was already running. */
  down(): void;
}

/** Starts (or reuses) a Redis Cluster of 3 masters + 3 replicas on `port`..`port + 5` (scripts/redis-cluster.sh). */
export function redisClusterUp(port: number): RedisClusterUp {
  const redisEnv = { ...process.env, REDIS_CLUSTER_PORT: String(port) };
  const wasRunning = spawnSync("bash", ["scripts/redis-cluster.sh", "status"], { cwd: ROOT, env: redisEnv, stdio: "ignore" }).status === 0;
  const down = () => {
    if (!wasRunning) spawnSync("bash", ["scripts/redis-cluster.sh", "stop"], { cwd: ROOT, env: redisEnv, stdio: "inherit" });
  };
  try {
    const started = run("bash", ["scripts/redis-cluster.sh", "start"], redisEnv, true);
    const nodes = /^REDIS_CLUSTER_NODES=(\S+)$/m.exec(started)?.[1];
    if (!nodes) throw new Error(`scripts/redis-cluster.sh start printed no REDIS_CLUSTER_NODES: ${started}`);
    return { nodes, down };
  } catch (error) {
    down();
    throw error;
  }
}

/** Starts (or reuses) both clusters; on failure, stops what it started before throwing. */
export function clusterInfraUp(options: ClusterInfraOptions): ClusterInfra {
  mkdirSync(options.infraDir, { recursive: true });
  // What a machine that never ran the cluster lacks (Debian packages; HAProxy fronts the cluster stack's services).
  run("bash", [join(ROOT, "scripts", "infra.sh"), "deps", "redis-server", "haproxy"], process.env);
  const runRecord = join(options.infraDir, `started-by-${process.pid}`);
  const kafkaEnv = {
    INFRA_DIR: options.infraDir,
    INFRA_RUN_RECORD: runRecord,
    KAFKA_NODES: "3",
    KAFKA_PORT: String(options.kafkaPort),
    KAFKA_CONTROLLER_PORT: String(options.kafkaControllerPort),
    KAFKA_CLUSTER_DIR: join(options.infraDir, "kafka-cluster"),
  };
  let redis: RedisClusterUp | null = null;
  let done = false;
  const down = () => {
    if (done) return;
    done = true;
    spawnSync("bash", ["scripts/infra.sh", "down"], { cwd: ROOT, env: { ...process.env, ...kafkaEnv }, stdio: "inherit" });
    rmSync(runRecord, { force: true });
    redis?.down();
  };
  try {
    redis = redisClusterUp(options.redisPort);
    const nodes = redis.nodes;
    const { KAFKA_BROKERS: _ignored, ...base } = process.env; // the cluster's brokers, never a configured single one
    run("bash", ["scripts/infra.sh", "up"], { ...base, ...kafkaEnv });
    const env: NodeJS.ProcessEnv = { ...base, ...kafkaEnv, REDIS_CLUSTER_NODES: nodes };
    for (const line of readFileSync(join(options.infraDir, "env"), "utf8").split("\n")) {
      const match = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
      if (match) env[match[1]!] = match[2]!;
    }
    return { env, down };
  } catch (error) {
    down();
    throw error;
  }
}
