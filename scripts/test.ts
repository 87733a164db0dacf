import { spawn } from "node:child_process";
import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { prepare } from "./prepare.ts";
import { infraUp, ROOT } from "./env.ts";

// `npm test`: make the services reachable, then run every test layer against them. Tests use their
// own database (<name>_test) and topic prefix, so they never touch the data `npm start` serves.
const env = infraUp();
const dbUrl = new URL(env.TEST_DATABASE_URL ?? env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/flashgraph");
if (!env.TEST_DATABASE_URL) dbUrl.pathname = `${dbUrl.pathname.replace(/_test$/, "")}_test`;
Object.assign(env, {
  DATABASE_URL: dbUrl.toString(),
  KAFKA_TOPIC_PREFIX: env.TEST_KAFKA_TOPIC_PREFIX ?? "test.",
  NODE_ENV: "test",
  LOG_LEVEL: env.LOG_LEVEL ?? "silent",
});
await prepare(loadConfig(env), createLogger("test-setup", "info"));

const jest = spawn(
  process.execPath,
  ["--experimental-vm-modules", "--no-warnings=ExperimentalWarning", `${ROOT}node_modules/jest/bin/jest.js`, ...process.argv.slice(2)],
  { stdio: "inherit", env, cwd: ROOT },
);
jest.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
