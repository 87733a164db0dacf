import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDatabase, migrate } from "../common/migrate.ts";
import { createLogger } from "../common/logger.ts";
import { dropLeftovers, templateUrl } from "../test/suite/resources.ts";
import { infraUp, ROOT } from "./env.ts";

// `npm test`: make the services reachable, migrate the template database every test file's own database is
// copied from (test/suite/), drop what killed runs left behind, then run every test layer. Nothing the tests
// make shares a name with what `npm start` serves.
const logger = createLogger("test-setup", "info");
const env = infraUp();
const dbUrl = new URL(env.TEST_DATABASE_URL ?? env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/flashgraph");
if (!env.TEST_DATABASE_URL) dbUrl.pathname = `${dbUrl.pathname.replace(/_test$/, "")}_test`;
Object.assign(env, {
  DATABASE_URL: dbUrl.toString(),
  KAFKA_TOPIC_PREFIX: env.TEST_KAFKA_TOPIC_PREFIX ?? "test.",
  TEST_RUN_ID: String(process.pid),
  NODE_ENV: "test",
  LOG_LEVEL: env.LOG_LEVEL ?? "silent",
});
const template = templateUrl(env.DATABASE_URL!);
await ensureDatabase(template);
const applied = await migrate(template);
logger.info({ applied }, applied.length ? "applied migrations to the template database" : "template database is up to date");
const leftovers = await dropLeftovers(env);
if (leftovers.databases.length || leftovers.topics.length) logger.info(leftovers, "dropped what earlier runs left behind");

/**
 * Files run after the rest, one at a time: those that start processes, a browser or a broker of their own (the
 * storefront in Chromium, the chaos suite, Kafka restarts and stalls, the smoke test, production start-up
 * refusals), and those that time the router's answers while they attack it (they import test/health-during.ts and
 * assert that /health answers within 200 ms). Beside another file's work on a 2-core machine the second kind
 * measures the neighbour, not the attack. Arguments after `--` run exactly what they name, in one jest run.
 */
const PROCESS_STARTERS = /(storefront|chaos|kafka-restart|kafka-stall|smoke|production-config)\.[a-z0-9]+\.test\.ts$/;

function soloFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return ["node_modules", ".infra", ".git", "dist"].includes(entry.name) ? [] : soloFiles(path);
    if (!entry.name.endsWith(".test.ts")) return [];
    return PROCESS_STARTERS.test(entry.name) || readFileSync(path, "utf8").includes("health-during.ts") ? [path] : [];
  });
}

function runJest(args: string[]): Promise<number> {
  const jest = spawn(
    process.execPath,
    ["--experimental-vm-modules", "--no-warnings=ExperimentalWarning", `${ROOT}node_modules/jest/bin/jest.js`, ...args],
    { stdio: "inherit", env, cwd: ROOT },
  );
  return new Promise((resolve) => jest.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

const args = process.argv.slice(2);
if (args.length > 0) process.exit(await runJest(args));
const solo = soloFiles(ROOT).map((path) => `${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
const restCode = await runJest(["--testPathIgnorePatterns", "/node_modules/", "/.infra/", ...solo]);
const soloCode = await runJest(["--runInBand", ...solo]);
process.exit(restCode || soloCode);
