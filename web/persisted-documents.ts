import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ApolloClient, ApolloLink, InMemoryCache } from "@apollo/client";
import { print, type DocumentNode, type OperationDefinitionNode } from "graphql";
import { Observable } from "rxjs";
import * as generated from "./src/gql/graphql.ts";
import { documentIdOf, PERSISTED_DOCUMENTS_FILE, type PersistedDocumentsManifest, type PersistedOperation } from "../schema/persisted-documents.ts";

/**
 * The body Apollo Client sends for `document`: it goes through a client as the storefront's (InMemoryCache adds
 * `__typename`, client-only fields and directives go), and the link at the end records what it is handed, printed
 * as HttpLink and GraphQLWsLink print it. So the manifest's ids are the hashes of exactly what the pages send.
 */
async function sentBody(document: DocumentNode, type: PersistedOperation["type"]): Promise<string> {
  let body: string | undefined;
  const record = new ApolloLink((operation) => {
    body = print(operation.query);
    return new Observable((observer) => {
      observer.next({ data: null });
      observer.complete();
    });
  });
  const client = new ApolloClient({ link: record, cache: new InMemoryCache() });
  const ignore = () => undefined;
  if (type === "query") await client.query({ query: document, fetchPolicy: "no-cache" }).catch(ignore);
  else if (type === "mutation") await client.mutate({ mutation: document, fetchPolicy: "no-cache" }).catch(ignore);
  else
    await new Promise<void>((resolve) =>
      client.subscribe({ query: document }).subscribe({ next: ignore, error: () => resolve(), complete: resolve }),
    );
  client.stop();
  if (body === undefined) throw new Error(`Apollo Client sent nothing for ${print(document).slice(0, 80)}`);
  return body;
}

/**
 * The storefront's operations (every operation document GraphQL Code Generator made of web/src, `npm run codegen`)
 * as a persisted query manifest, sorted by name.
 */
export async function buildManifest(): Promise<PersistedDocumentsManifest> {
  const operations: PersistedOperation[] = [];
  for (const value of Object.values(generated) as unknown[]) {
    const document = value as DocumentNode;
    const operation = document?.definitions?.find((d): d is OperationDefinitionNode => d.kind === "OperationDefinition");
    if (!operation?.name) continue; // fragments
    const body = await sentBody(document, operation.operation);
    operations.push({ id: documentIdOf(body), name: operation.name.value, type: operation.operation, body });
  }
  operations.sort((a, b) => a.name.localeCompare(b.name));
  return { format: "apollo-persisted-query-manifest", version: 1, operations };
}

export const manifestText = (manifest: PersistedDocumentsManifest) => `${JSON.stringify(manifest, null, 2)}\n`;

// `npm run persisted-documents`: write schema/persisted-documents.json. With `--check`, write nothing: print
// `{"stale":true|false}` and exit 1 when the committed manifest differs (web/test/persisted-documents.unit.test.ts).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = manifestText(await buildManifest());
  if (process.argv.includes("--check")) {
    const stale = !existsSync(PERSISTED_DOCUMENTS_FILE) || readFileSync(PERSISTED_DOCUMENTS_FILE, "utf8") !== text;
    console.log(JSON.stringify({ stale }));
    process.exitCode = stale ? 1 : 0;
  } else {
    writeFileSync(PERSISTED_DOCUMENTS_FILE, text);
    console.log(`Wrote ${PERSISTED_DOCUMENTS_FILE}`);
  }
}
