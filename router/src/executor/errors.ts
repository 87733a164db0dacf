/**
 * Errors as the gateway path gives them: a subgraph's errors rewritten by gateway-js `downstreamServiceError`
 * (its path moved under the plan's path, `serviceName` added), a failed call as `RemoteGraphQLDataSource`
 * throws it, and every error then formatted as Apollo Server formats the gateway's (a default
 * INTERNAL_SERVER_ERROR code, then the router's `formatError` with the request id).
 */
import { GraphQLError, type GraphQLFormattedError } from "graphql";
import { ERRORS, errorCodeDef } from "@apollo/federation-internals";
import { formatError } from "../../../common/errors.ts";
import { getOwn, hasOwn, type ResultMap } from "./merge.ts";

export type ResponsePath = (string | number)[];

/** Moves a subgraph error's path into the client's response (gateway-js `makeLazyErrorPathGenerator`). */
export type ErrorPathGenerator = (path: readonly (string | number)[] | undefined) => ResponsePath | undefined;

/** Every concrete path `path` (with `@` for list elements) reaches in `data` (gateway-js `generateHydratedPaths`). */
function generateHydratedPaths(parent: ResponsePath, path: ResponsePath, data: unknown, result: ResponsePath[]): void {
  if (data == null) return;
  const head = path[0];
  if (head == null) {
    result.push(parent.slice());
  } else if (head === "@") {
    if (!Array.isArray(data)) throw new Error("expected array when encountering `@`");
    data.forEach((value, i) => {
      parent.push(i);
      generateHydratedPaths(parent, path.slice(1), value, result);
      parent.pop();
    });
  } else if (typeof head === "string") {
    if (Array.isArray(data)) {
      data.forEach((value, i) => {
        parent.push(i);
        generateHydratedPaths(parent, path, value, result);
        parent.pop();
      });
    } else if (hasOwn(data as object, head)) {
      parent.push(head);
      generateHydratedPaths(parent, path.slice(1), getOwn(data as object, head), result);
      parent.pop();
    }
  } else {
    throw new Error(`unknown path part "${String(head)}"`);
  }
}

export function errorPathGenerator(isEntityFetch: boolean, cursorPath: ResponsePath, fullResult: ResultMap): ErrorPathGenerator {
  let hydrated: ResponsePath[] | undefined;
  return (errorPath) => {
    if (isEntityFetch && typeof errorPath?.[1] === "number") {
      if (!hydrated) generateHydratedPaths([], cursorPath, fullResult, (hydrated = []));
      return [...(hydrated[errorPath[1]] ?? []), ...errorPath.slice(2)];
    }
    return errorPath ? [...cursorPath, ...errorPath] : undefined;
  };
}

/** A subgraph's error as the gateway reports it (gateway-js `downstreamServiceError`). */
export function downstreamServiceError(original: GraphQLFormattedError, serviceName: string, pathOf: ErrorPathGenerator): GraphQLError {
  const message = original.message || `Error while fetching subquery from service "${serviceName}"`;
  const options = {
    originalError: original as unknown as Error,
    path: pathOf(original.path),
    extensions: { ...original.extensions, serviceName },
  };
  const codeDef = errorCodeDef(original);
  if (!codeDef && original.extensions?.code) return new GraphQLError(message, options);
  return (codeDef ?? ERRORS.DOWNSTREAM_SERVICE_ERROR).err(message, options);
}

/** A subgraph answer with a non-2xx status, as `RemoteGraphQLDataSource.errorFromResponse` makes it. */
export function failedResponseError(url: string, status: number, text: string): GraphQLError {
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the gateway keeps the text
  }
  const extensions: Record<string, unknown> = { response: { url, status, statusText: "", body } };
  if (status === 401) extensions.code = "UNAUTHENTICATED";
  else if (status === 403) extensions.code = "FORBIDDEN";
  return new GraphQLError(`${status}: `, { extensions });
}

export const asGraphQLError = (error: unknown): GraphQLError =>
  error instanceof GraphQLError
    ? error
    : error instanceof Error
      ? new GraphQLError(error.message, { originalError: error })
      : new GraphQLError("Unexpected error value: " + String(error));

/** One error as Apollo Server formats it on the gateway path, with the router's masking and request id. */
export function formatForClient(error: GraphQLError, requestId: string): GraphQLFormattedError {
  const extensions: Record<string, unknown> = { ...error.extensions, code: error.extensions.code ?? "INTERNAL_SERVER_ERROR" };
  delete extensions.http;
  return formatError({ ...error.toJSON(), extensions }, requestId);
}
