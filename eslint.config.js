// ESLint catches real mistakes and keeps the architecture (which folder may import what); Prettier owns the
// format (eslint-config-prettier, last, turns off every rule that would disagree with it). `npm run lint` runs both.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import boundaries from "eslint-plugin-boundaries";
import prettier from "eslint-config-prettier";
import { defineConfig } from "eslint/config";

/**
 * Who may import whom. Everything not allowed here is an error: a subgraph never imports another subgraph
 * (shared vocabulary lives in `common/`), `common/` never imports a subgraph, and runtime code never imports tests.
 */
const importBoundaries = {
  plugins: { boundaries },
  settings: {
    "boundaries/elements": [
      { type: "common", pattern: "common", partialMatch: false },
      { type: "subgraph", pattern: "subgraphs/*", capture: ["name"], partialMatch: false },
      { type: "router", pattern: "router", partialMatch: false },
      { type: "schema", pattern: "schema", partialMatch: false },
      // The Prisma client `npm run prisma:generate` writes; common/prisma.ts is its one importer.
      { type: "generated", pattern: "generated", partialMatch: false },
      { type: "test", pattern: "test", partialMatch: false },
      { type: "bench", pattern: "bench", partialMatch: false },
      { type: "scripts", pattern: "scripts", partialMatch: false },
      // The storefront: its browser app (web/src) and the small server that serves it (web/server).
      { type: "web", pattern: "web", partialMatch: false },
    ],
    "boundaries/files": [{ category: "test", pattern: ["common/test/**", "subgraphs/*/test/**"] }],
    "boundaries/dependency-nodes": ["import", "export", "dynamic-import"],
  },
  rules: {
    "boundaries/dependencies": [
      "error",
      {
        default: "disallow",
        message: "{{from.element.path}} may not import {{to.element.path}} ({{dependency.source}}): see the import boundaries in eslint.config.js",
        policies: [
          // Packages and Node built-ins are not a boundary question.
          { allow: { to: { module: { origin: ["external", "core"] } } } },
          { from: { element: { type: "common" } }, allow: { to: { element: { type: ["common", "generated"] } } } },
          {
            from: { element: { type: "subgraph" } },
            allow: [
              { to: { element: { type: "subgraph", captured: { name: "{{from.element.captured.name}}" } } } },
              { to: { element: { type: "common" } } },
            ],
          },
          { from: { element: { type: ["common", "subgraph"] }, file: { categories: "test" } }, allow: { to: { element: { type: "test" } } } },
          { from: { element: { type: "router" } }, allow: { to: { element: { type: ["router", "common", "schema"] } } } },
          { from: { element: { type: ["test", "bench", "scripts"] } }, allow: { to: { module: { origin: "local" } } } },
          { from: { element: { type: "web" } }, allow: { to: { element: { type: ["web", "common", "schema"] } } } },
        ],
      },
    ],
  },
};

export default defineConfig(
  { ignores: ["generated/", "node_modules/", ".infra/", "dist/", "coverage/", "web/dist/", "web/src/gql/"] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ["**/*.ts", "**/*.tsx"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // The two type-aware rules worth their cost here: a promise nobody awaits loses its rejection, and an
      // async function passed where a void callback is expected (an event handler, a timer) does the same.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      // `const { stacktrace: _dropped, ...rest } = x` drops a field on purpose; `_` marks a parameter kept for its position.
      "@typescript-eslint/no-unused-vars": ["error", { ignoreRestSiblings: true, argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // A `let` read by a callback before its one assignment (a timer handle) cannot be a `const`.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Off where the code is tests and benchmarks: GraphQL answers are read as `any` there by design (the
    // assertion checks the shape); `src/` stays typed.
    files: ["test/**", "**/test/**", "bench/**"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Jest loads its environment and reporters as CommonJS.
    files: ["**/*.cjs"],
    languageOptions: {
      sourceType: "commonjs",
      globals: { require: "readonly", module: "writable", __filename: "readonly", __dirname: "readonly", process: "readonly", console: "readonly" },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    files: ["**/*.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
  {
    files: ["**/*.ts", "**/*.tsx", "**/*.js"],
    ...importBoundaries,
  },
  prettier,
);
