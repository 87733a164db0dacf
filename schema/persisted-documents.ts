/**
 * The persisted documents manifest (docs/edge-protection.md, Persisted documents): the storefront's operations, exactly as its
 * Apollo Client sends them, in Apollo's persisted query manifest format. `npm run persisted-documents` writes it
 * (web/persisted-documents.ts); the router serves its documents by id (router/src/persisted/).
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

export const PERSISTED_DOCUMENTS_FILE = fileURLToPath(new URL("./persisted-documents.json", import.meta.url));

export interface PersistedOperation {
  /** sha256 of `body`, lowercase hex: the APQ hash and the `documentId` clients send. */
  id: string;
  name: string;
  type: "query" | "mutation" | "subscription";
  body: string;
}

export interface PersistedDocumentsManifest {
  format: "apollo-persisted-query-manifest";
  version: 1;
  operations: PersistedOperation[];
}

/** The id of a document: the sha256 of its text, as Apollo Server's APQ and Apollo Client compute it. */
export const documentIdOf = (body: string): string => createHash("sha256").update(body).digest("hex");

/** Parses a manifest, refusing one that is not Apollo's format, version 1, or whose ids are not the sha256 of their bodies. */
export function parseManifest(text: string): PersistedDocumentsManifest {
  const manifest = JSON.parse(text) as Partial<PersistedDocumentsManifest>;
  if (manifest.format !== "apollo-persisted-query-manifest" || manifest.version !== 1 || !Array.isArray(manifest.operations)) {
    throw new Error('Not a persisted query manifest: expected {"format":"apollo-persisted-query-manifest","version":1,"operations":[...]}');
  }
  for (const operation of manifest.operations) {
    if (typeof operation?.body !== "string" || operation.id !== documentIdOf(operation.body)) {
      throw new Error(`Persisted document ${JSON.stringify(operation?.name)}: its id is not the sha256 of its body`);
    }
  }
  return manifest as PersistedDocumentsManifest;
}
