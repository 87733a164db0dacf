import { GraphQLError, type GraphQLFormattedError } from "graphql";
import type { Logger } from "./logger.ts";

/** The error codes of API.md. Anything else reaching a client is masked as INTERNAL_SERVER_ERROR. */
export const ErrorCode = {
  UNAUTHENTICATED: "UNAUTHENTICATED",
  FORBIDDEN: "FORBIDDEN",
  BAD_USER_INPUT: "BAD_USER_INPUT",
  NOT_FOUND: "NOT_FOUND",
  OUT_OF_STOCK: "OUT_OF_STOCK",
  PRICE_CHANGED: "PRICE_CHANGED",
  PURCHASE_LIMIT_EXCEEDED: "PURCHASE_LIMIT_EXCEEDED",
  RATE_LIMITED: "RATE_LIMITED",
  SALE_NOT_ACTIVE: "SALE_NOT_ACTIVE",
  IDEMPOTENCY_KEY_REUSED: "IDEMPOTENCY_KEY_REUSED",
  INVALID_STATE: "INVALID_STATE",
  OPERATION_LIMIT_EXCEEDED: "OPERATION_LIMIT_EXCEEDED",
  /** PERSISTED_DOCUMENTS=required and the document is not one of the manifest's (HTTP 403, the code of Apollo's router). */
  PERSISTED_QUERY_NOT_IN_LIST: "PERSISTED_QUERY_NOT_IN_LIST",
  INTERNAL_SERVER_ERROR: "INTERNAL_SERVER_ERROR",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Codes a client may see as they are: ours, plus the ones Apollo Server and the gateway raise for
 * malformed operations (they describe the client's request, not our internals). Not INTERNAL_SERVER_ERROR:
 * Apollo Server and the fast path give that code to every error that has none (a plain `Error`, a Prisma
 * error), so its message is whatever the failure said.
 */
const PUBLIC_CODES = new Set<string>([
  ...Object.values(ErrorCode).filter((code) => code !== ErrorCode.INTERNAL_SERVER_ERROR),
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
  "OPERATION_RESOLUTION_FAILURE",
]);

export function appError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

export const unauthenticated = (message = "Sign in to do this.") => appError(ErrorCode.UNAUTHENTICATED, message);
export const forbidden = (message = "You are not allowed to do this.") => appError(ErrorCode.FORBIDDEN, message);
export const notFound = (what: string) => appError(ErrorCode.NOT_FOUND, `${what} does not exist.`);
export const badInput = (field: string, message: string) => appError(ErrorCode.BAD_USER_INPUT, message, { field });

export function isPublicCode(code: unknown): boolean {
  return typeof code === "string" && PUBLIC_CODES.has(code);
}

/** Logs every error a client will see masked (not a public code), with its cause, before `formatError` hides it. */
export function logUnexpectedErrors(errors: readonly GraphQLError[], logger: Logger, operationName: string | null | undefined): void {
  for (const error of errors) {
    if (isPublicCode(error.extensions?.code)) continue;
    logger.error({ err: error.originalError ?? error, path: error.path, operationName }, "unexpected error");
  }
}

/** What a client reads of an unexpected error, on every path. */
export const INTERNAL_ERROR_MESSAGE = "Internal server error";

/**
 * Passes our codes through and masks everything else, so internals never leave the process
 * (`logUnexpectedErrors` logged the original with the request id). A masked error keeps only the subgraph the
 * gateway names (`serviceName`), as both router paths give it, and gets `requestId` when one is given: the id
 * of the response's `x-request-id` and of the log line, which a client quotes to support. Apollo Server calls
 * it without one (its `formatError` has no context); `requestIdPlugin` (http/apollo.ts) adds it there.
 */
export function formatError(formatted: GraphQLFormattedError, requestId?: string): GraphQLFormattedError {
  const { stacktrace: _dropped, ...extensions } = formatted.extensions ?? {};
  if (isPublicCode(extensions.code)) return { ...formatted, extensions };
  const { serviceName } = extensions;
  return {
    message: INTERNAL_ERROR_MESSAGE,
    path: formatted.path,
    locations: formatted.locations,
    extensions: {
      code: ErrorCode.INTERNAL_SERVER_ERROR,
      ...(typeof serviceName === "string" ? { serviceName } : {}),
      ...(requestId !== undefined ? { requestId } : {}),
    },
  };
}

/** A masked error (formatError's INTERNAL_SERVER_ERROR) with the request id added; any other error as it is. */
export function withRequestId(formatted: GraphQLFormattedError, requestId: string): GraphQLFormattedError {
  if (formatted.extensions?.code !== ErrorCode.INTERNAL_SERVER_ERROR) return formatted;
  return { ...formatted, extensions: { ...formatted.extensions, requestId } };
}

/**
 * Infrastructure failures say whether trying again can help; the one retry policy, `isRetriable` in
 * common/kafka/retry.ts, acts on that flag (the consumers' retries and dead-lettering).
 */
export class InfrastructureError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "InfrastructureError";
  }
}
