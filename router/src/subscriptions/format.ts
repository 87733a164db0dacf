import type { ExecutionResult, GraphQLError, GraphQLFormattedError } from "graphql";
import { formatError, logUnexpectedErrors } from "../../../common/errors.ts";
import type { BaseContext } from "../../../common/service.ts";

/**
 * A subscription result as clients receive it: errors masked exactly as for queries (`formatError`); with the
 * subscription's context, unexpected ones are logged with its request id and name it (`extensions.requestId`).
 */
export function formatResult(result: ExecutionResult, context?: BaseContext): { data?: unknown; errors?: GraphQLFormattedError[] } {
  if (result.errors && context) logUnexpectedErrors(result.errors, context.logger, null);
  return {
    ...(result.data !== undefined ? { data: result.data } : {}),
    ...(result.errors
      ? {
          errors: result.errors.map((e) =>
            formatError(typeof (e as GraphQLError).toJSON === "function" ? (e as GraphQLError).toJSON() : e, context?.requestId),
          ),
        }
      : {}),
  };
}
