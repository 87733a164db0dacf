import { getOperationAST, parse, validate, type DocumentNode, type GraphQLSchema } from "graphql";
import { LRUCache } from "lru-cache";
import { isRefusal, type OperationRequest } from "../../../common/operation-limits.ts";
import type { PersistedDocumentsManifest } from "../../../schema/persisted-documents.ts";

/** A document the router runs by id: parsed, limit-checked and validated once, when it was loaded or registered. */
export interface PersistedDocument {
  id: string;
  /** The text every path of the router is handed (its caches are keyed by it, so each is a hit). */
  query: string;
  /** The operation's name, or null for an anonymous one. */
  name: string | null;
  type: "query" | "mutation" | "subscription";
  document: DocumentNode;
}

export interface PersistedDocumentsOptions {
  /** The trusted documents (schema/persisted-documents.json); absent, only APQ registrations. */
  manifest?: PersistedDocumentsManifest;
  /** The API schema documents are validated against. */
  schema: GraphQLSchema;
  /** Parses under the operation limits (common/operation-limits.ts `createOperationGuard`); default plain `parse`. */
  guard?: (request: OperationRequest) => DocumentNode;
  /** Most APQ registrations kept (default 1 000; the least recently used goes first). */
  maxRegistered?: number;
  /** Most characters of registered documents kept in all (default 8 Mi). */
  maxRegisteredChars?: number;
}

/**
 * The documents the router serves by id: the manifest's, checked at startup (a document over a limit or invalid
 * against the supergraph stops the router, as a stale manifest should), and APQ registrations, checked when
 * registered and kept in a bounded LRU. `register` returns undefined for a document that is not valid: it is not
 * kept, and the request runs as a freeform one, so the client reads the usual validation errors.
 */
export function createPersistedDocuments(options: PersistedDocumentsOptions) {
  const guard = options.guard ?? ((request: OperationRequest) => parse(request.query));
  const trusted = new Map<string, PersistedDocument>();
  const trustedByText = new Map<string, PersistedDocument>();
  const registered = new LRUCache<string, PersistedDocument>({
    max: options.maxRegistered ?? 1_000,
    maxSize: options.maxRegisteredChars ?? 8 * 1024 * 1024,
    sizeCalculation: (entry) => Math.max(1, entry.query.length),
  });

  /** Parses (under the limits, which throw) and validates; undefined when it is not a valid single-operation document. */
  function prepare(id: string, query: string): PersistedDocument | undefined {
    const document = guard({ query });
    const operation = getOperationAST(document);
    if (!operation || validate(options.schema, document).length > 0) return undefined;
    return { id, query, name: operation.name?.value ?? null, type: operation.operation, document };
  }

  for (const { id, name, body } of options.manifest?.operations ?? []) {
    const prepared = prepare(id, body);
    if (!prepared) throw new Error(`Persisted document ${name} (${id}) is not valid against the supergraph: run npm run persisted-documents`);
    trusted.set(id, prepared);
    trustedByText.set(body, prepared);
  }

  return {
    /** The document with this id, from the manifest or registered. */
    get: (id: string): PersistedDocument | undefined => trusted.get(id) ?? registered.get(id),
    /** Whether `id` is one of the manifest's. */
    isTrusted: (id: string) => trusted.has(id),
    /** The manifest's document with exactly this text (a freeform request of a trusted document). */
    trustedText: (query: string): PersistedDocument | undefined => trustedByText.get(query),
    /** Every manifest document. */
    trusted: () => [...trusted.values()],
    /** Checks and keeps a document under its (already verified) id; throws OPERATION_LIMIT_EXCEEDED over a limit. */
    register(id: string, query: string): PersistedDocument | undefined {
      let prepared: PersistedDocument | undefined;
      try {
        prepared = prepare(id, query);
      } catch (error) {
        if (isRefusal(error)) throw error;
        return undefined; // a syntax error: Apollo Server answers it as for any request
      }
      if (prepared) registered.set(id, prepared);
      return prepared;
    },
  };
}

export type PersistedDocuments = ReturnType<typeof createPersistedDocuments>;
