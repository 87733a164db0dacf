/**
 * Three layers, told apart by file name: `*.unit.test.ts` (no I/O), `*.int.test.ts` (real PostgreSQL,
 * Redis and Kafka), `*.e2e.test.ts` (through the router). `npm test` prepares the services first
 * (scripts/test.ts); every other file gets a database, Redis database and topic prefix of its own
 * (test/suite/environment.cjs), so no file sees another's data or an earlier run's.
 */
export default {
  testEnvironment: "<rootDir>/test/suite/environment.cjs",
  extensionsToTreatAsEsm: [".ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { useESM: true, diagnostics: false }] },
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  testMatch: ["<rootDir>/**/test/**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/.infra/"],
  testTimeout: 60_000,
  maxWorkers: 2,
  reporters: ["default", "<rootDir>/test/suite/layer-reporter.cjs"],
};
