/**
 * A subgraph's hot path beside Apollo Server: known-valid JSON `POST`s run straight on graphql-js, since Apollo's
 * per-request pipeline was a fifth of the flash-sale subgraph's CPU per purchase.
 */
import { execute, getOperationAST, parse, validate, type DocumentNode, type GraphQLSchema } from "graphql";
import { LRUCache } from "lru-cache";
import { formatError, logUnexpectedErrors } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { RequestLike, ResponseLike } from "./graphql.ts";

interface FastPathOptions<TContext extends { logger: Logger; requestId: string }> {
  schema: GraphQLSchema;
  context: (req: RequestLike, res: ResponseLike) => Promise<TContext>;
  /** Counts the operation as the metrics plugin would (outcome "ok" or the first error code). */
  record: (operation: string, outcome: string, seconds: number) => void;
  /** Parses a document (default graphql-js `parse`); the service passes the one its operation guard already parsed. */
  parse?: (source: string) => DocumentNode;
}

interface Body {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
  extensions?: { persistedQuery?: unknown };
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A subgraph's hot path: a JSON `POST` whose document has been parsed and validated before runs straight on
 * graphql-js `execute`, with the service's context, `formatError`, error logging and metrics — what Apollo
 * Server does for such a request, without its per-request pipeline (a SHA-256 of the document, a dozen
 * plugin hooks, header maps), which was a fifth of the flash-sale subgraph's CPU per purchase. Anything else
 * returns false and goes to Apollo Server: GET, persisted queries, unknown or invalid documents (their
 * errors are Apollo's), subscriptions, several-operation ambiguities, odd `variables`, and requests whose
 * variables do not coerce (Apollo answers those with its 400). `common/test/graphql-fast.unit.test.ts`
 * requires the same status and body from both paths.
 */
export function createFastPath<TContext extends { logger: Logger; requestId: string }>(options: FastPathOptions<TContext>) {
  const documents = new LRUCache<string, DocumentNode | false>({ max: 1_000 });

  function documentFor(query: string): DocumentNode | false {
    let document = documents.get(query);
    if (document === undefined) {
      try {
        const parsed = (options.parse ?? parse)(query);
        document = validate(options.schema, parsed).length === 0 ? parsed : false;
      } catch {
        document = false;
      }
      documents.set(query, document);
    }
    return document;
  }

  return async (req: RequestLike, res: ResponseLike, rawBody: unknown): Promise<boolean> => {
    if (req.method !== "POST" || !isPlainObject(rawBody)) return false;
    const { query, variables, operationName, extensions } = rawBody as Body;
    if (typeof query !== "string" || extensions?.persistedQuery !== undefined) return false;
    if (variables != null && !isPlainObject(variables)) return false;
    if (operationName != null && typeof operationName !== "string") return false;
    const document = documentFor(query);
    if (!document) return false;
    const operation = getOperationAST(document, operationName ?? undefined);
    if (!operation || operation.operation === "subscription") return false;

    const started = process.hrtime.bigint();
    const contextValue = await options.context(req, res);
    const result = await execute({
      schema: options.schema,
      document,
      operationName: operationName ?? undefined,
      variableValues: variables ?? undefined,
      contextValue,
    });
    if (result.data === undefined) return false; // a request error (variables): Apollo Server answers it
    const name = operation.name?.value ?? "anonymous";
    if (result.errors) logUnexpectedErrors(result.errors, contextValue.logger, name);
    const errors = result.errors?.map((error) =>
      formatError(
        { ...error.toJSON(), extensions: { ...error.extensions, code: error.extensions?.code ?? "INTERNAL_SERVER_ERROR" } },
        contextValue.requestId,
      ),
    );
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(errors ? { errors, data: result.data } : { data: result.data }));
    const outcome = result.errors?.length ? String(result.errors[0]!.extensions?.code ?? "ERROR") : "ok";
    options.record(name, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };
}
