import type { ExecutionResult, GraphQLError, GraphQLFormattedError } from "graphql";
import { formatError } from "../../../common/errors.ts";

/** A subscription result as clients receive it: errors masked exactly as for queries (`formatError`). */
export function formatResult(result: ExecutionResult): { data?: unknown; errors?: GraphQLFormattedError[] } {
  return {
    ...(result.data !== undefined ? { data: result.data } : {}),
    ...(result.errors
      ? { errors: result.errors.map((e) => formatError(typeof (e as GraphQLError).toJSON === "function" ? (e as GraphQLError).toJSON() : e)) }
      : {}),
  };
}
