import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { createLogger } from "../common/logger.ts";
import { ROOT } from "../scripts/env.ts";
import { clusterInfraUp } from "../scripts/cluster-infra.ts";
import { createClusterStack, freeLayout, type ClusterStack } from "../scripts/cluster-stack.ts";
import { haproxyMissing } from "../scripts/haproxy.ts";
import { SERVICE_NAMES } from "../scripts/services.ts";
import { BENCH_MAIL_DIR, emptyBenchState, flashBenchServices, prepareBenchEnv, stopOrphans } from "./platform.ts";
import { cpuMeter, type CpuGroups } from "./cpu-meter.ts";

// `BENCH_CLUSTER=1 npm run bench:flash` (or `bench:orders`): the bench, unchanged, on the cluster stack of
// `npm run start:cluster` (scripts/cluster-infra.ts, scripts/cluster-stack.ts): a Redis Cluster of 3 masters +
// 3 replicas and a 3-broker Kafka, then N instances of every subgraph and router behind HAProxy, for each N of
// BENCH_CLUSTER_INSTANCES ("1,2") in one run; the bench runs as a child process against HAProxy (its
// BENCH_ROUTER_URL mode) and its figures are put side by side. Every N starts from an empty database and Redis.
// On a 2-core machine N instances share the same two cores, so 2 cannot be faster than 1: what this shows is
// that the invariants hold with every service doubled, and what the doubling costs (docs/scale-out.md).
//
//   BENCH_CLUSTER_INSTANCES ("1,2")   instance counts to measure, in order (1-5 each)
//   BENCH_CLUSTER_REDIS_PORT (7500)   first of the Redis Cluster's 6 ports
//   BENCH_CLUSTER_KAFKA_PORT (19392), BENCH_CLUSTER_KAFKA_CONTROLLER_PORT (19393)   broker i: + 2(i-1)
//   BENCH_CLUSTER_INFRA_DIR (.infra/bench-cluster)   the brokers' directories, HAProxy's config, and each run's
//                                     last output of every process (logs/<bench>-<N>/)
//   BENCH_CLUSTER_LOG_LEVEL (error)   the services' LOG_LEVEL
// Every other BENCH_* variable is the bench's own (BENCH_DURATION, BENCH_CONNECTIONS, ...).

export type ClusterBenchName = "flash" | "orders";

/** One line of a bench's result table: a scenario's rate, its latency percentiles. */
export interface BenchRow {
  name: string;
  perSecond: number;
  p50: number;
  p99: number;
}

interface ClusterBench {
  script: string;
  /** What the services run with on top of the bench environment, as the bench's single-node mode starts them. */
  services: Record<string, string>;
  /** Its result rows and its invariant lines, from what it printed. */
  parse(output: string): { rows: BenchRow[]; checks: string[] };
}

const number = (text: string) => Number(text.replace(/,/g, ""));

export const CLUSTER_BENCHES: Record<ClusterBenchName, ClusterBench> = {
  flash: {
    script: "bench/flash.ts",
    services: flashBenchServices(),
    parse: (output) => ({
      // `router       1234.5     20.1     40.2     80.3   RESERVED 1234`
      rows: [...output.matchAll(/^((?:router|subgraph)(?: #\d+)?)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+\s+([\d.]+)\s{3}/gm)].map((m) => ({
        name: m[1]!.trim(),
        perSecond: number(m[2]!),
        p50: number(m[3]!),
        p99: number(m[4]!),
      })),
      checks: output.split("\n").filter((line) => line.startsWith("no oversell")),
    }),
  },
  orders: {
    script: "bench/orders.ts",
    // As bench/orders.ts starts its platform: no expiry sweeps during the run (orders of the run do not lapse in it).
    services: { EXPIRY_SWEEP_INTERVAL_MS: "0" },
    parse: (output) => ({
      // `| placeOrder, 1 hot product | 812 | 50.1 | 80.2 | 120.3 | 0.31x | {...} |`
      rows: [...output.matchAll(/^\| ([^|]+) \| (\d+) \| ([\d.]+) \| [\d.]+ \| ([\d.]+) \|/gm)].map((m) => ({
        name: m[1]!.trim(),
        perSecond: number(m[2]!),
        p50: number(m[3]!),
        p99: number(m[4]!),
      })),
      checks: output.split("\n").filter((line) => line.startsWith("invariant:")),
    }),
  },
};

interface Measured {
  instances: number;
  rows: BenchRow[];
  checks: string[];
  exitCode: number;
  wallSeconds: number;
  cpu: Record<string, number>;
  loadAverage: number;
}

/** Runs `bench` on the cluster stack for each instance count; resolves with the exit code (0: every run passed its checks). */
export async function runOnClusterStack(name: ClusterBenchName): Promise<number> {
  const logger = createLogger(`bench-${name}-cluster`, "info");
  const missing = haproxyMissing();
  if (missing) throw new Error(missing);
  const counts = (process.env.BENCH_CLUSTER_INSTANCES ?? "1,2").split(",").map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 5))
    throw new Error(`BENCH_CLUSTER_INSTANCES must list whole numbers from 1 to 5 (got ${process.env.BENCH_CLUSTER_INSTANCES})`);
  const bench = CLUSTER_BENCHES[name];
  const infraDir = process.env.BENCH_CLUSTER_INFRA_DIR ?? join(ROOT, ".infra", "bench-cluster");
  const redisPort = Number(process.env.BENCH_CLUSTER_REDIS_PORT ?? 7500);
  stopOrphans();
  const infra = clusterInfraUp({
    redisPort,
    kafkaPort: Number(process.env.BENCH_CLUSTER_KAFKA_PORT ?? 19392),
    kafkaControllerPort: Number(process.env.BENCH_CLUSTER_KAFKA_CONTROLLER_PORT ?? 19393),
    infraDir,
  });
  let stack: ClusterStack | undefined;
  const mailDir = `${BENCH_MAIL_DIR}-cluster`;
  const stopAll = async () => {
    await stack?.stop();
    infra.down();
    rmSync(mailDir, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(signal, () => void stopAll().then(() => process.exit(130)));
  const measured: Measured[] = [];
  try {
    const env = await prepareBenchEnv(
      infra.env,
      logger,
      { database: "bench_cluster", mailDir },
      {
        ...bench.services,
        LOG_LEVEL: process.env.BENCH_CLUSTER_LOG_LEVEL ?? "error",
      },
    );
    for (const [i, instances] of counts.entries()) {
      if (i > 0) await emptyBenchState(env);
      const current = createClusterStack({
        env,
        logger,
        layout: await freeLayout(instances),
        dir: infraDir,
        output: "capture",
        healthTimeoutMs: 240_000,
      });
      stack = current;
      logger.info({ bench: name, instances }, "starting the cluster stack");
      await current.start();
      measured.push(await runBench(bench, current, env, instances, { infraDir, redisPort }));
      await current.stop();
      saveOutputs(current, join(infraDir, "logs", `${name}-${instances}`));
      stack = undefined;
    }
  } finally {
    await stopAll();
  }
  printSideBySide(name, measured);
  return measured.every((m) => m.exitCode === 0) ? 0 : 1;
}

/** What every process of the stack wrote last (16 KB each; the services log at LOG_LEVEL=error): `<dir>/<server>.log`. */
function saveOutputs(stack: ClusterStack, dir: string) {
  mkdirSync(dir, { recursive: true });
  stack.instances.forEach((instance, i) => {
    for (const service of SERVICE_NAMES) writeFileSync(join(dir, `${service}-${i + 1}.log`), instance.output(service));
  });
  writeFileSync(join(dir, "haproxy.log"), stack.haproxyOutput());
}

/** The bench as a child process against HAProxy, its output shown as it comes; CPU of every process meanwhile. */
async function runBench(
  bench: ClusterBench,
  stack: ClusterStack,
  env: NodeJS.ProcessEnv,
  instances: number,
  infra: { infraDir: string; redisPort: number },
): Promise<Measured> {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, bench.script)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...env,
      BENCH_CLUSTER: "",
      BENCH_ROUTER_URL: stack.routerUrl,
      BENCH_SUBGRAPH_URL: stack.subgraphUrl("flash-sale"),
      BENCH_ROUTER_METRICS: stack.layout.instances.map((ports) => `http://127.0.0.1:${ports.router}/metrics`).join(","),
    },
  });
  const groups: CpuGroups = {
    ...Object.fromEntries(SERVICE_NAMES.map((service) => [service, () => stack.instances.map((s) => s.pid(service)!).filter(Boolean)])),
    haproxy: { pattern: `haproxy -db -f ${stack.configFile}` },
    redis: { pattern: `redis-server 127.0.0.1:(${Array.from({ length: 6 }, (_, i) => infra.redisPort + i).join("|")})` },
    kafka: { pattern: `kafka.Kafka ${infra.infraDir}/kafka-cluster/` },
    postgres: { pattern: "^postgres" },
    "load generator": () => (child.pid ? [child.pid] : []),
  };
  const meter = cpuMeter(groups);
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
    process.stdout.write(chunk);
  });
  const started = Date.now();
  const exitCode = await new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
  const wallSeconds = (Date.now() - started) / 1000;
  const cpu = meter.stop();
  const { rows, checks } = bench.parse(output);
  if (rows.length === 0) throw new Error(`${bench.script} printed no result rows (exit ${exitCode})`);
  return { instances, rows, checks, exitCode, wallSeconds, cpu, loadAverage: os.loadavg()[0]! };
}

function printSideBySide(name: ClusterBenchName, measured: Measured[]) {
  const [first] = measured;
  if (!first) return;
  const fmt = (n: number) => n.toFixed(1);
  const header = [
    "scenario",
    ...measured.flatMap((m) => [`${m.instances} inst. per s`, `p50 ms`, `p99 ms`]),
    ...measured.slice(1).map((m) => `${m.instances}/${first.instances}`),
  ];
  const lines = first.rows.map((row) => {
    const same = measured.map((m) => m.rows.find((r) => r.name === row.name));
    return [
      row.name,
      ...same.flatMap((r) => (r ? [r.perSecond.toFixed(0), fmt(r.p50), fmt(r.p99)] : ["-", "-", "-"])),
      ...same.slice(1).map((r) => (r ? `${(r.perSecond / row.perSecond).toFixed(2)}x` : "-")),
    ];
  });
  const out = [
    "",
    `bench:${name} on the cluster stack (Redis Cluster 3+3, 3 Kafka brokers, HAProxy), ${os.cpus().length} cores`,
    `N instances of every subgraph and router; on 2 cores they share the same CPU, so the point is correctness and the shape`,
    "",
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
    ...lines.map((cells) => `| ${cells.join(" | ")} |`),
    "",
  ];
  for (const m of measured) {
    const total = Object.values(m.cpu).reduce((a, b) => a + b, 0);
    const parts = Object.entries(m.cpu)
      .sort((a, b) => b[1] - a[1])
      .filter(([, s]) => s >= 0.05)
      .map(([group, s]) => `${group} ${s.toFixed(1)}`)
      .join(", ");
    out.push(
      `${m.instances} instance(s): bench exit ${m.exitCode}, ${fmt(m.wallSeconds)} s wall (warm-up and checks included), load average ${m.loadAverage.toFixed(2)}`,
      `  CPU s by process group (${fmt(total)} of ${fmt(m.wallSeconds * os.cpus().length)} available): ${parts}`,
      ...m.checks.map((check) => `  ${check}`),
    );
  }
  console.log(out.join("\n"));
}
