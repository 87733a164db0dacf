/**
 * The subgraph side of the router's batches (common/batch-contract.ts): each operation runs exactly as if it had
 * come alone, with its own headers (the signed identity among them), and its status and body go back in order,
 * so a batch answers nothing a single request would not.
 */
import type http from "node:http";
import { BATCH_HEADER, isBatch, MAX_BATCH, type BatchAnswer } from "../batch-contract.ts";
import { BodyError, type RequestLike, type ResponseLike } from "./graphql.ts";

/** One operation of a batch, answered in memory: `done` is its status and body once it ended. */
export class BufferedResponse implements ResponseLike {
  statusCode = 200;
  headersSent = false;
  readonly done: Promise<BatchAnswer>;
  private readonly chunks: string[] = [];
  private finish!: (answer: BatchAnswer) => void;

  constructor() {
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  setHeader(): void {
    // Headers of one operation do not travel in a batch's answer: status and body are what the router uses.
  }

  writeHead(status: number): void {
    this.statusCode = status;
    this.headersSent = true;
  }

  write(chunk: string): void {
    this.headersSent = true;
    this.chunks.push(chunk);
  }

  end(chunk?: string): void {
    if (chunk) this.chunks.push(chunk);
    this.finish({ status: this.statusCode, body: this.chunks.join("") });
  }
}

export interface BatchReceiverOptions {
  /** Answers one operation as a single request would be answered (fast path or Apollo Server). */
  run: (req: RequestLike, res: ResponseLike, body: unknown) => Promise<void>;
  /** Answers an operation whose `run` threw, as a single request's failure would be answered. */
  fail: (res: ResponseLike, error: unknown, req: RequestLike) => void;
}

/** Whether a request to `/graphql` is a router batch. */
export const isBatchRequest = (req: RequestLike): boolean => req.headers[BATCH_HEADER] === "1";

/**
 * Answers a batch whose parsed body is `body`; throws a 400 BodyError when it is not a JSON array of 1 to
 * MAX_BATCH `{ headers, body }` objects.
 */
export function createBatchReceiver(options: BatchReceiverOptions) {
  return async (req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<void> => {
    if (!isBatch(body)) throw new BodyError(`A batch is a JSON array of 1 to ${MAX_BATCH} { headers, body } objects.`, 400);
    const answers = await Promise.all(
      body.map(async (entry) => {
        const headers: http.IncomingHttpHeaders = { "content-type": "application/json" };
        for (const [name, value] of Object.entries(entry.headers)) if (typeof value === "string") headers[name.toLowerCase()] = value;
        const one = { method: "POST", url: req.url, headers };
        const reply = new BufferedResponse();
        try {
          await options.run(one, reply, entry.body);
        } catch (error) {
          options.fail(reply, error, one);
        }
        return reply.done;
      }),
    );
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(answers));
  };
}
