/**
 * Three layers, told apart by file name: `*.unit.test.ts` (no I/O), `*.int.test.ts` (real PostgreSQL,
 * Redis and Kafka), `*.e2e.test.ts` (through the router). `npm test` prepares the services first
 * (scripts/test.ts); every test makes its own data (unique ids, keys, topics), so none needs a reset.
 */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { useESM: true, diagnostics: false }] },
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  testMatch: ["<rootDir>/**/test/**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/.infra/"],
  testTimeout: 60_000,
  maxWorkers: 2,
};
