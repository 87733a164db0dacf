import type { Dispatcher } from "undici";
import type { Histogram } from "prom-client";
import { BATCH_HEADER, encodeBatch, isBatchAnswer, MAX_BATCH } from "../../common/batch-contract.ts";

/** Operations with a larger body go alone, so a batch stays well under a subgraph's 1 MiB body limit. */
const MAX_BATCHED_BODY = 16 * 1024;

export interface Upstream {
  serviceName: string;
  origin: string;
  path: string;
}

export interface Answer {
  status: number;
  text: string;
}

/**
 * POSTs `body` on the pooled connections and returns the answer's status and text, through undici's dispatch
 * API: `request()` wraps every answer in a Readable stream and a promise chain of its own, which a few hundred
 * bytes of JSON do not need. Both timeouts bound the call.
 */
function post(dispatcher: Dispatcher, to: Upstream, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    dispatcher.dispatch(
      { origin: to.origin, path: to.path, method: "POST", headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
      {
        onConnect: () => undefined,
        onError: reject,
        onHeaders: (statusCode) => {
          status = statusCode;
          return true;
        },
        onData: (chunk) => {
          chunks.push(chunk);
          return true;
        },
        onComplete: () => resolve({ status, text: Buffer.concat(chunks).toString("utf8") }),
      },
    );
  });
}

interface Waiting {
  headers: Record<string, string>;
  body: string;
  resolve: (answer: Answer) => void;
  reject: (error: unknown) => void;
}

export interface SubgraphSenderOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  /** Subgraphs that accept batches (every subgraph of this repository does; another GraphQL server may not). */
  batches: (serviceName: string) => boolean;
  /** Operations per request sent, by subgraph. */
  batchSize: Histogram<"subgraph">;
}

/**
 * Sends the pass-through's operations to their subgraph. Operations for one subgraph that reach this point in
 * the same turn of the event loop go as one batch: one request and one answer for all of them, instead of a
 * write, a read and a wake-up on both sides per operation. Under a sale's load a turn gathers several
 * purchases; alone, an operation waits for nothing but the end of the turn (`setImmediate`).
 *
 * The batch is a JSON array of `{ headers, body }` (each operation's own headers: forwarding.ts) with the
 * `x-flashgraph-batch` header; the subgraph answers a JSON array of `{ status, body }`, one per operation, in
 * order, each what it would have answered to the operation alone (common/batch-contract.ts).
 * A batch that fails (network, timeout, a non-200 answer) fails each of its operations, as a single request would.
 */
export function createSubgraphSender(options: SubgraphSenderOptions) {
  const { dispatcher, timeoutMs } = options;
  const queues = new Map<string, { to: Upstream; waiting: Waiting[] }>();

  function flush(key: string): void {
    const queue = queues.get(key);
    if (!queue) return;
    queues.delete(key);
    const { to, waiting } = queue;
    options.batchSize.observe({ subgraph: to.serviceName }, waiting.length);
    if (waiting.length === 1) {
      const [only] = waiting as [Waiting];
      post(dispatcher, to, only.headers, only.body, timeoutMs).then(only.resolve, only.reject);
      return;
    }
    const body = encodeBatch(waiting);
    const headers = { "content-type": "application/json", [BATCH_HEADER]: "1" };
    post(dispatcher, to, headers, body, timeoutMs).then(
      ({ status, text }) => {
        let answers: unknown;
        try {
          answers = status === 200 ? JSON.parse(text) : undefined;
        } catch {
          answers = undefined;
        }
        if (!Array.isArray(answers) || answers.length !== waiting.length) {
          const error = new Error(`${to.serviceName} answered a batch of ${waiting.length} with ${status}: ${text.slice(0, 200)}`);
          for (const w of waiting) w.reject(error);
          return;
        }
        waiting.forEach((w, i) => {
          const answer: unknown = answers[i];
          if (isBatchAnswer(answer)) w.resolve({ status: answer.status, text: answer.body });
          else w.reject(new Error(`${to.serviceName} answered operation ${i} of a batch without a status and body`));
        });
      },
      (error) => {
        for (const w of waiting) w.reject(error);
      },
    );
  }

  /** Sends one operation's JSON `body` with its `headers` to `to`; resolves with what the subgraph answered it. */
  return function send(to: Upstream, headers: Record<string, string>, body: string): Promise<Answer> {
    if (!options.batches(to.serviceName) || body.length > MAX_BATCHED_BODY) return post(dispatcher, to, headers, body, timeoutMs);
    return new Promise((resolve, reject) => {
      const key = `${to.origin}${to.path}`;
      let queue = queues.get(key);
      if (!queue) {
        queues.set(key, (queue = { to, waiting: [] }));
        setImmediate(flush, key);
      }
      queue.waiting.push({ headers, body, resolve, reject });
      if (queue.waiting.length === MAX_BATCH) flush(key);
    });
  };
}
