import type http from "node:http";
import { HeaderMap, type ApolloServer, type BaseContext as ApolloBaseContext } from "@apollo/server";

/** Header that marks a POST to a subgraph's `/graphql` as a batch of operations (router/src/subgraph-batch.ts). */
export const BATCH_HEADER = "x-flashgraph-batch";
/** Most operations in one batch; a subgraph refuses larger ones. */
export const MAX_BATCH = 32;

/** What the `/graphql` handlers read of a request: a socket's, or one operation of a router batch. */
export type RequestLike = Pick<http.IncomingMessage, "method" | "url" | "headers">;

/** What the `/graphql` handlers write of a response. */
export interface ResponseLike {
  statusCode: number;
  readonly headersSent: boolean;
  setHeader(name: string, value: string): unknown;
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string): unknown;
  end(chunk?: string): unknown;
}

/** One operation of a router batch, answered in memory: `done` is its status and body once it ended. */
export class BufferedResponse implements ResponseLike {
  statusCode = 200;
  headersSent = false;
  readonly done: Promise<{ status: number; body: string }>;
  private readonly chunks: string[] = [];
  private finish!: (answer: { status: number; body: string }) => void;

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

/** Largest request body accepted on `/graphql`, in bytes. */
const BODY_LIMIT = 1024 * 1024;

export class BodyError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Reads and parses a JSON body (anything else is passed on as text, and Apollo Server says what is wrong). */
export async function readBody(req: http.IncomingMessage): Promise<unknown> {
  if (req.method !== "POST") return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new BodyError("Request body is larger than 1 MiB.", 413);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (!/json/i.test(req.headers["content-type"] ?? "")) return text;
  try {
    return text.length ? JSON.parse(text) : {};
  } catch {
    throw new BodyError("Request body is not valid JSON.", 400);
  }
}

/**
 * Serves Apollo Server on a plain Node request: what the express integration does, without the router
 * and body-parser layers that were a quarter of the router's CPU on the hot path.
 */
export function createGraphQLHandler<TContext extends ApolloBaseContext>(
  apollo: ApolloServer<TContext>,
  context: (req: RequestLike, res: ResponseLike) => Promise<TContext>,
) {
  return async (req: RequestLike, res: ResponseLike, body: unknown) => {
    const headers = new HeaderMap();
    for (const [key, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(", ") : value);
    }
    const queryStart = req.url?.indexOf("?") ?? -1;
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method?.toUpperCase() ?? "GET", headers, search: queryStart >= 0 ? req.url!.slice(queryStart) : "", body },
      context: () => context(req, res),
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === "complete") {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };
}
