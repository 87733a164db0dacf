/**
 * Persisted documents on `/graphql` (docs/edge-protection.md, Persisted documents): a request naming a document by id
 * (`extensions.persistedQuery.sha256Hash`, Apollo's APQ protocol, or `documentId`) is handed on with that
 * document's text, before the operation limits and every path see it; APQ registration (id and text together)
 * is checked here; and with PERSISTED_DOCUMENTS=required nothing but the manifest's documents runs.
 */
import type http from "node:http";
import { GraphQLError, type DocumentNode } from "graphql";
import { ErrorCode } from "../../../common/errors.ts";
import type { OperationRequest } from "../../../common/operation-limits.ts";
import { documentIdOf } from "../../../schema/persisted-documents.ts";
import type { PersistedDocuments } from "./documents.ts";

/**
 * `optional`: any document runs; ids are served from the manifest and from APQ registrations (a bounded LRU).
 * `required`: only the manifest's documents run, by id or as their exact text; no registration.
 */
export type PersistedMode = "optional" | "required";

/** The headers Apollo Server gives a PERSISTED_QUERY_NOT_FOUND answer: a CDN must not keep it for a GET. */
const NOT_FOUND_HEADERS = { "cache-control": "private, no-cache, must-revalidate" };

/** As Apollo Server answers an unknown APQ hash (HTTP 200, so Apollo Client's link sends the text next). */
const notFound = () => new GraphQLError("PersistedQueryNotFound", { extensions: { code: "PERSISTED_QUERY_NOT_FOUND", http: { status: 200 } } });

const notInList = () =>
  new GraphQLError("This router runs only its persisted documents (PERSISTED_DOCUMENTS=required); this document is not one of them.", {
    extensions: { code: ErrorCode.PERSISTED_QUERY_NOT_IN_LIST, http: { status: 403 } },
  });

const badRequest = (message: string) => new GraphQLError(message, { extensions: { code: "BAD_REQUEST", http: { status: 400 } } });

/** One operation of a request, as a JSON body or a GET's URL parameters carry it. */
interface Operation {
  query?: unknown;
  documentId?: unknown;
  extensions?: { persistedQuery?: { version?: unknown; sha256Hash?: unknown }; [name: string]: unknown };
  [name: string]: unknown;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The operation without its persisted-document fields, so nothing after this step sees an id. */
function withoutId(operation: Operation, query: string): Operation {
  const { documentId: _id, extensions, ...rest } = operation;
  const { persistedQuery: _pq, ...otherExtensions } = extensions ?? {};
  return { ...rest, query, ...(Object.keys(otherExtensions).length ? { extensions: otherExtensions } : {}) };
}

export function createPersistedRequests(options: { mode: PersistedMode; documents: PersistedDocuments }) {
  const { mode, documents } = options;

  /** Refuses, with PERSISTED_DOCUMENTS=required, a freeform text that is not a manifest document. */
  function admitText(query: string): void {
    if (mode === "required" && !documents.trustedText(query)) throw notInList();
  }

  /** The operation to run in place of `operation`; throws a refusal (answered with its HTTP status). */
  function resolve(operation: Operation, res: Pick<http.ServerResponse, "setHeader">): Operation {
    const persisted = isRecord(operation.extensions) ? operation.extensions.persistedQuery : undefined;
    if (persisted === undefined && operation.documentId === undefined) {
      if (typeof operation.query === "string" && operation.query !== "") admitText(operation.query);
      return operation;
    }
    if (persisted !== undefined && (!isRecord(persisted) || persisted.version !== 1)) throw badRequest("Unsupported persisted query version");
    const raw = persisted !== undefined ? persisted.sha256Hash : operation.documentId;
    if (typeof raw !== "string" || raw === "") throw badRequest("A persisted document id must be a non-empty string.");
    const id = raw.startsWith("sha256:") ? raw.slice("sha256:".length) : raw;
    if (typeof operation.query === "string" && operation.query !== "") {
      // APQ registration: the text comes with its hash.
      if (documentIdOf(operation.query) !== id) throw badRequest("provided sha does not match query");
      if (!documents.get(id)) {
        if (mode === "required") throw notInList();
        documents.register(id, operation.query);
      }
      return withoutId(operation, operation.query);
    }
    const document = documents.get(id);
    if (!document) {
      for (const [name, value] of Object.entries(NOT_FOUND_HEADERS)) res.setHeader(name, value);
      throw notFound();
    }
    return withoutId(operation, document.query);
  }

  /** A GET's URL parameters resolved the same way, written back into `req.url` for the path that reads them. */
  function resolveGet(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    const params = url.searchParams;
    let extensions: unknown;
    try {
      extensions = params.has("extensions") ? JSON.parse(params.get("extensions")!) : undefined;
    } catch {
      throw badRequest("The extensions parameter is not valid JSON.");
    }
    const operation: Operation = {
      ...(params.has("query") ? { query: params.get("query") } : {}),
      ...(params.has("documentId") ? { documentId: params.get("documentId") } : {}),
      ...(isRecord(extensions) ? { extensions } : {}),
    };
    const resolved = resolve(operation, res);
    if (resolved === operation) return;
    params.set("query", resolved.query as string);
    params.delete("documentId");
    if (resolved.extensions) params.set("extensions", JSON.stringify(resolved.extensions));
    else params.delete("extensions");
    req.url = `${url.pathname}?${params.toString()}`;
  }

  /**
   * The route's step after the body is read: returns the body to hand on (a JSON body's operations resolved,
   * a GET's URL rewritten), or throws a refusal.
   */
  function resolveRequest(req: http.IncomingMessage, res: http.ServerResponse, body: unknown): unknown {
    if (req.method === "GET") {
      resolveGet(req, res);
      return body;
    }
    if (Array.isArray(body)) return body.map((operation) => (isRecord(operation) ? resolve(operation, res) : operation));
    return isRecord(body) ? resolve(body, res) : body;
  }

  /** Wraps a WebSocket `subscribe`'s parser: with PERSISTED_DOCUMENTS=required only manifest texts are parsed. */
  const guardSocket =
    (parse: (request: OperationRequest) => DocumentNode) =>
    (request: OperationRequest): DocumentNode => {
      admitText(request.query);
      return parse(request);
    };

  return { mode, resolveRequest, guardSocket, admitText };
}

export type PersistedRequests = ReturnType<typeof createPersistedRequests>;
