/**
 * What every `/graphql` handler of the platform shares, router and subgraphs: the request and response they read
 * and write (a socket's, or one operation of a router batch), the body reader, the base context of a request,
 * and the answer to a request that failed before GraphQL could answer it.
 */
import type http from "node:http";
import type { Logger } from "../logger.ts";
import type { BaseContext } from "../service.ts";
import { REQUEST_ID_HEADER, requestIdOf } from "../forwarded-headers.ts";

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

/** Serves `/graphql` on a socket's request (the HTTP shell calls it). */
export type GraphQLRequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

/** Largest request body accepted on `/graphql`, in bytes. */
const BODY_LIMIT = 1024 * 1024;

/** A request refused before GraphQL runs (body too large, not JSON, a malformed batch), with its HTTP status. */
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

/** The request id (echoed on the response as `x-request-id`) and a child logger carrying it. */
export function baseContextFor(req: RequestLike, res: ResponseLike, logger: Logger): BaseContext {
  const requestId = requestIdOf(req.headers);
  res.setHeader(REQUEST_ID_HEADER, requestId);
  return { requestId, logger: logger.child({ requestId }) };
}

/** Reads a request header by name, several values joined as HTTP joins them. */
export const headerOf =
  (req: RequestLike) =>
  (name: string): string | undefined => {
    const value = req.headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(", ") : value;
  };

/**
 * Answers a `/graphql` request that failed outside GraphQL: a BodyError with its status and `BAD_REQUEST`,
 * anything else logged and masked as a 500 `INTERNAL_SERVER_ERROR`.
 */
export function answerFailure(res: ResponseLike, error: unknown, logger: Logger): void {
  const status = error instanceof BodyError ? error.status : 500;
  if (status === 500) logger.error({ err: error }, "unexpected error serving /graphql");
  if (!res.headersSent) res.writeHead(status, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      errors: [
        {
          message: status === 500 ? "Internal server error" : (error as Error).message,
          extensions: { code: status === 500 ? "INTERNAL_SERVER_ERROR" : "BAD_REQUEST" },
        },
      ],
    }),
  );
}
