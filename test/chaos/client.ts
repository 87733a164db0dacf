// How the chaos suite's clients talk to the router: one POST per attempt with a bound, and an answer reduced
// to what a client can tell apart (data, a refusal with a code, or a failure it cannot interpret).

export interface Answer {
  data?: Record<string, any> | null;
  /** `extensions.code` of the first error; `TRANSPORT` when no GraphQL answer came back at all. */
  code?: string;
  message?: string;
}

/** Codes that mean "this request was not done and will not be", told to the client on purpose. */
export const REFUSALS = new Set([
  "OUT_OF_STOCK",
  "PURCHASE_LIMIT_EXCEEDED",
  "SALE_NOT_ACTIVE",
  "IDEMPOTENCY_KEY_REUSED",
  "PRICE_CHANGED",
  "INVALID_STATE",
  "BAD_USER_INPUT",
  "NOT_FOUND",
  "FORBIDDEN",
  "UNAUTHENTICATED",
]);

export async function post(url: string, query: string, variables: Record<string, unknown>, token?: string, timeoutMs = 15_000): Promise<Answer> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await response.json()) as { data?: Record<string, any> | null; errors?: { message: string; extensions?: { code?: string } }[] };
    const error = body.errors?.[0];
    if (error) return { data: body.data, code: error.extensions?.code ?? `HTTP_${response.status}`, message: error.message };
    return { data: body.data };
  } catch (error) {
    return { code: "TRANSPORT", message: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * What a careful client does: an answer it cannot interpret (no answer, INTERNAL_SERVER_ERROR, RATE_LIMITED) is
 * sent again with the same idempotency key, with backoff, for up to `budgetMs`; data or a refusal ends it.
 */
export async function postRetrying(url: string, query: string, variables: Record<string, unknown>, token: string, budgetMs: number) {
  const deadline = Date.now() + budgetMs;
  let attempts = 0;
  for (let wait = 200; ; wait = Math.min(wait * 2, 2_000)) {
    attempts++;
    const answer = await post(url, query, variables, token);
    if (!answer.code || REFUSALS.has(answer.code) || Date.now() + wait > deadline) return { ...answer, attempts };
    await new Promise((r) => setTimeout(r, wait));
  }
}
