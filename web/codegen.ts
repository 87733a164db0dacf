import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { printSchema } from "graphql";
import { Supergraph } from "@apollo/federation-internals";
import { generate } from "@graphql-codegen/cli";
import type { CodegenConfig } from "@graphql-codegen/cli";
import { SUPERGRAPH_FILE } from "../schema/compose.ts";

const WEB_ROOT = fileURLToPath(new URL("./", import.meta.url));
/** Where the client preset writes the typed `graphql()` function and the operations' types (committed). */
export const GENERATED_DIR = `${WEB_ROOT}src/gql/`;

/** The API schema clients see (the committed supergraph without its federation machinery). */
export function apiSchemaSdl(): string {
  return printSchema(Supergraph.build(readFileSync(SUPERGRAPH_FILE, "utf8")).apiSchema().toGraphQLJSSchema());
}

/**
 * Runs GraphQL Code Generator's client preset over the storefront's operations (`graphql(...)` in src/)
 * against the committed supergraph's API schema; returns each file's path and content without writing.
 */
export async function generateOperationTypes(): Promise<{ filename: string; content: string }[]> {
  const config: CodegenConfig = {
    schema: apiSchemaSdl(),
    documents: [`${WEB_ROOT}src/**/*.tsx`, `${WEB_ROOT}src/**/*.ts`, `!${GENERATED_DIR}**`],
    generates: {
      [GENERATED_DIR]: {
        preset: "client",
        presetConfig: { fragmentMasking: false },
        config: { useTypeImports: true, enumsAsTypes: true, onlyOperationTypes: true, scalars: { DateTime: "string" } },
      },
    },
    silent: true,
    errorsOnly: true,
  };
  return generate(config, false);
}

// `npm run codegen`: regenerate web/src/gql/. With `--check`, write nothing: print the stale files (relative to
// web/) as JSON and exit 1 if there are any (web/test/codegen.unit.test.ts).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await generateOperationTypes();
  if (process.argv.includes("--check")) {
    const fresh = (f: { filename: string; content: string }) => existsSync(f.filename) && readFileSync(f.filename, "utf8") === f.content;
    const stale = files.filter((f) => !fresh(f)).map((f) => path.relative(WEB_ROOT, f.filename));
    console.log(JSON.stringify({ files: files.map((f) => path.relative(WEB_ROOT, f.filename)).sort(), stale }));
    process.exitCode = stale.length ? 1 : 0;
  } else {
    for (const { filename, content } of files) {
      mkdirSync(path.dirname(filename), { recursive: true });
      writeFileSync(filename, content);
    }
  }
}
