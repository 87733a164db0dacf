import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * Runs `scripts/infra.sh up` (reuses what DATABASE_URL, REDIS_URL, KAFKA_BROKERS point to, else starts
 * local services) and returns the environment it wrote to `.infra/env`, merged over ours.
 */
export function infraUp(runRecord?: string): NodeJS.ProcessEnv {
  const result = spawnSync("bash", [`${ROOT}scripts/infra.sh`, "up"], {
    stdio: "inherit",
    cwd: ROOT,
    env: runRecord ? { ...process.env, INFRA_RUN_RECORD: runRecord } : process.env,
  });
  if (result.status !== 0) throw new Error(`scripts/infra.sh up failed (exit ${result.status}); see its output above`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const line of readFileSync(`${ROOT}.infra/env`, "utf8").split("\n")) {
    const match = /^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) env[match[1]!] = match[2]!.replace(/^['"]|['"]$/g, "");
  }
  return env;
}

/** Stops what `infraUp(runRecord)` started, and nothing another command started or reused. */
export function infraDown(runRecord: string): void {
  spawnSync("bash", [`${ROOT}scripts/infra.sh`, "down"], { stdio: "inherit", cwd: ROOT, env: { ...process.env, INFRA_RUN_RECORD: runRecord } });
}

/**
 * How `npm start` and the benchmarks run a service: `node <V8 flags> --import tsx <entry>`. The flags are
 * NODE_SERVICE_FLAGS when set (empty for V8's defaults); otherwise `--single-threaded-gc` on a machine with two
 * cores or fewer, where V8's parallel and concurrent GC threads only take CPU from the request threads of the
 * five services, PostgreSQL, Kafka and Redis on the same two cores (docs/flash-sales.md has the measurement).
 */
export function serviceArgs(entry: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const flags = env.NODE_SERVICE_FLAGS ?? (availableParallelism() <= 2 ? "--single-threaded-gc" : "");
  return [...flags.split(/\s+/).filter(Boolean), "--import", "tsx", `${ROOT}${entry}`];
}
