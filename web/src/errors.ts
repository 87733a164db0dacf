import { CombinedGraphQLErrors, ServerError } from "@apollo/client/errors";

export interface ApiError {
  code: string;
  message: string;
  extensions: Record<string, unknown>;
}

/** The API error (docs/API.md, Errors) behind a failed operation; refusals such as 429 arrive as HTTP errors. */
export function apiError(error: unknown): ApiError {
  if (CombinedGraphQLErrors.is(error)) {
    const first = error.errors[0];
    return {
      code: String(first?.extensions?.code ?? "INTERNAL_SERVER_ERROR"),
      message: first?.message ?? error.message,
      extensions: first?.extensions ?? {},
    };
  }
  if (ServerError.is(error)) {
    try {
      const first = (JSON.parse(error.bodyText) as { errors?: { message: string; extensions?: Record<string, unknown> }[] }).errors?.[0];
      if (first?.extensions?.code) return { code: String(first.extensions.code), message: first.message, extensions: first.extensions };
    } catch {
      // not a GraphQL body
    }
    if (error.statusCode === 429) return { code: "RATE_LIMITED", message: "Too many requests", extensions: {} };
  }
  return { code: "NETWORK", message: "The shop cannot be reached right now; try again.", extensions: {} };
}
