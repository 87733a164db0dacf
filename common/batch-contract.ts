/**
 * The wire format of the router's subgraph batches, in one module because two sides must agree on it: the router
 * writes batches (router/src/subgraph-batch.ts) and every subgraph of this repository reads them
 * (common/http/batch-receiver.ts).
 *
 * A batch is a `POST` to the subgraph's GraphQL URL with `x-flashgraph-batch: 1` and a JSON array of
 * `{ headers, body }`, one per operation, each with its own headers (the signed identity, the request id, the
 * client address), so a batch grants nothing a single request would not. The answer is a JSON array of
 * `{ status, body }` in the same order, each what the subgraph would have answered the operation alone.
 */

/** Header that marks a POST to a subgraph's `/graphql` as a batch of operations. */
export const BATCH_HEADER = "x-flashgraph-batch";

/** Most operations in one batch; a subgraph refuses larger ones. */
export const MAX_BATCH = 32;

/** One operation of a batch as the router sends it. */
export interface BatchEntry {
  /** Header values are strings; a receiver ignores anything else. */
  headers: Record<string, unknown>;
  /** The operation's JSON request body (query, variables, operationName). */
  body: unknown;
}

/** The subgraph's answer to one operation of a batch: the status and body it would have answered alone. */
export interface BatchAnswer {
  status: number;
  body: string;
}

/** The request body of a batch, from each operation's headers and already-serialised JSON body. */
export function encodeBatch(entries: readonly { headers: Record<string, string>; body: string }[]): string {
  return `[${entries.map((e) => `{"headers":${JSON.stringify(e.headers)},"body":${e.body}}`).join(",")}]`;
}

/** Whether a parsed request body is a batch a subgraph runs: 1 to MAX_BATCH `{ headers, body }` objects. */
export function isBatch(body: unknown): body is BatchEntry[] {
  return (
    Array.isArray(body) &&
    body.length > 0 &&
    body.length <= MAX_BATCH &&
    body.every((e) => typeof e?.headers === "object" && e.headers !== null && "body" in e)
  );
}

/** Whether one element of a batch's answer has the `{ status, body }` shape. */
export function isBatchAnswer(answer: unknown): answer is BatchAnswer {
  return typeof (answer as BatchAnswer | undefined)?.status === "number" && typeof (answer as BatchAnswer).body === "string";
}
