import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, test } from "@jest/globals";

const WEB_ROOT = fileURLToPath(new URL("../", import.meta.url));

// As web/src/gql against codegen, the committed schema/persisted-documents.json is checked against a fresh run of
// `npm run persisted-documents -- --check` (in a process of its own, like codegen.unit.test.ts): a storefront
// operation changed without regenerating the manifest would be refused by a router with PERSISTED_DOCUMENTS=required.
test("schema/persisted-documents.json is what `npm run persisted-documents` makes of the storefront's operations", () => {
  const run = spawnSync(process.execPath, ["--import", "tsx", `${WEB_ROOT}persisted-documents.ts`, "--check"], { cwd: WEB_ROOT, encoding: "utf8" });
  const lastLine = run.stdout.trim().split("\n").at(-1) ?? "";
  expect(JSON.parse(lastLine || "{}")).toEqual({ stale: false });
  expect({ status: run.status, stderr: run.status === 0 ? "" : run.stderr.slice(-2_000) }).toEqual({ status: 0, stderr: "" });
}, 60_000);
