import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
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
    if (match) env[match[1]!] = unquote(match[2]!);
  }
  return env;
}

/** Undoes how infra.sh writes a value: quoted, or escaped by bash's `printf %q` (`db\\?sslmode=disable`). */
function unquote(value: string): string {
  if (/^'.*'$|^".*"$/.test(value)) return value.slice(1, -1);
  return value.replace(/\\(.)/g, "$1");
}

/** Stops what `infraUp(runRecord)` started, and nothing another command started or reused. */
export function infraDown(runRecord: string): void {
  spawnSync("bash", [`${ROOT}scripts/infra.sh`, "down"], { stdio: "inherit", cwd: ROOT, env: { ...process.env, INFRA_RUN_RECORD: runRecord } });
}
