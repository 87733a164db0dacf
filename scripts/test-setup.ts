import { spawn } from "node:child_process";
import { ensureDatabase, migrate } from "../common/migrate.ts";
import { createLogger } from "../common/logger.ts";
import { dropLeftovers, templateUrl } from "../test/suite/resources.ts";
import { ROOT } from "./env.ts";

// What `npm test` and `npm run test:cluster` do before and to run jest: name the run's test database, migrate the
// template database every test file's own database is copied from (test/suite/), drop what killed runs left
// behind. Nothing the tests make shares a name with what `npm start` serves.
const logger = createLogger("test-setup", "info");

/** Completes `env` (from infra.sh up) into the test run's environment and prepares the template database. */
export async function prepareTestRun(env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
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
  return env;
}

/** Runs jest with `args` in `env`; resolves with its exit code. */
export function runJest(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const jest = spawn(
    process.execPath,
    ["--experimental-vm-modules", "--no-warnings=ExperimentalWarning", `${ROOT}node_modules/jest/bin/jest.js`, ...args],
    { stdio: "inherit", env, cwd: ROOT },
  );
  return new Promise((resolve) => jest.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

/** Files only `npm run test:cluster` runs: they need the Redis Cluster and the 3-broker Kafka it starts. */
export const CLUSTER_TESTS = "\\.cluster\\.test\\.ts$";
