import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, test } from "@jest/globals";

const WEB_ROOT = fileURLToPath(new URL("../", import.meta.url));

// As the supergraph is checked against a fresh composition, the storefront's typed operations (web/src/gql/)
// are checked against a fresh run of GraphQL Code Generator over the committed supergraph and web/src
// (`npm run codegen -- --check`, in a process of its own: the generator's presets do not load in jest's sandbox).
test("web/src/gql is what `npm run codegen` generates from the committed supergraph", () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", `${WEB_ROOT}codegen.ts`, "--check"], { cwd: WEB_ROOT, encoding: "utf8" });
  const lastLine = run.stdout.trim().split("\n").at(-1) ?? "";
  expect(JSON.parse(lastLine || "{}")).toEqual({ files: ["src/gql/gql.ts", "src/gql/graphql.ts", "src/gql/index.ts"], stale: [] });
  expect({ status: run.status, stderr: run.status === 0 ? "" : run.stderr.slice(-2_000) }).toEqual({ status: 0, stderr: "" });
}, 60_000);
