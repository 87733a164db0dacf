import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { getMainDefinition } from "@apollo/client/utilities";
import { print, type DocumentNode } from "graphql";

/** What the storefront reads of the persisted documents manifest (schema/persisted-documents.json). */
export interface PersistedIds {
  operations: readonly { id: string; name: string }[];
}

/** sha256 of a text, lowercase hex (the APQ hash of a document the manifest does not hold). */
async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Sends queries and mutations by id (Apollo's APQ protocol, `extensions.persistedQuery`), so the pages work on a
 * router that runs only its persisted documents (PERSISTED_DOCUMENTS=required). The id of an operation is the
 * manifest's, by operation name, the way `@apollo/persisted-query-lists` does it: the manifest holds each
 * document as this client sends it (`npm run persisted-documents`). A document the manifest lacks (an operation
 * added since it was generated) is sent by its own hash; a development router registers it when the link sends
 * the text after PERSISTED_QUERY_NOT_FOUND.
 */
export function createPersistedLink(manifest: PersistedIds): PersistedQueryLink {
  const ids = new Map(manifest.operations.map((operation) => [operation.name, operation.id]));
  return new PersistedQueryLink({
    generateHash: (document: DocumentNode) => {
      const definition = getMainDefinition(document);
      return (definition.kind === "OperationDefinition" && definition.name && ids.get(definition.name.value)) || sha256(print(document));
    },
  });
}
