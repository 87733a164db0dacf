/**
 * What every `/graphql` handler of the platform shares, router and subgraphs: the request and response they read
 * and write (a socket's, or one operation of a router batch), the body reader, the base context of a request,
 * and the answer to a request that failed before GraphQL could answer it.
 */
import type http from "node:http";
import type { GraphQLError } from "graphql";
import { randomUUID } from "node:crypto";
import { ErrorCode, INTERNAL_ERROR_MESSAGE } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { BaseContext } from "../service.ts";
import { REQUEST_ID_HEADER, requestIdOf } from "../forwarded-headers.ts";
import { isRefusal, limitExceeded } from "../operation-limits.ts";

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

/** Largest request body accepted on `/graphql` unless the service says otherwise (OPERATION_MAX_BODY_BYTES), in bytes. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** A request refused before GraphQL runs (body too large, not JSON, a malformed batch), with its HTTP status. */
export class BodyError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The media types a `POST /graphql` body may have; only these run. */
const JSON_MEDIA_TYPES = new Set(["application/json", "application/graphql-response+json"]);

/**
 * Whether a `Content-Type` names JSON: its essence (the media type before any parameter, trimmed, in any
 * case) is one of JSON_MEDIA_TYPES. Not a substring test: `text/plain; x=json` is what a cross-site form may
 * send without a preflight.
 */
export function isJsonContentType(contentType: string | undefined): boolean {
  return JSON_MEDIA_TYPES.has((contentType ?? "").split(";", 1)[0]!.trim().toLowerCase());
}

/**
 * Reads and parses a JSON body. A `POST` of any other content type (or none) is refused with a 400 before it is
 * read, on every path of every service: CSRF prevention, since a browser sends `text/plain`, form and multipart
 * bodies cross-site without a preflight (GET is Apollo Server's, which asks for a non-simple header).
 */
export async function readBody(req: http.IncomingMessage, maxBytes: number = DEFAULT_BODY_LIMIT): Promise<unknown> {
  if (req.method !== "POST") return undefined;
  if (!isJsonContentType(req.headers["content-type"])) throw new BodyError("POST bodies must be JSON: send Content-Type: application/json.", 400);
  const declared = Number(req.headers["content-length"]);
  if (declared > maxBytes) throw limitExceeded("bodySize", maxBytes, declared, `The request body is larger than ${maxBytes} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw limitExceeded("bodySize", maxBytes, size, `The request body is larger than ${maxBytes} bytes.`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
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
 * anything else logged with `requestId` and masked as a 500 `INTERNAL_SERVER_ERROR` carrying it (a new id when
 * the caller has none).
 */
export function answerFailure(res: ResponseLike, error: unknown, logger: Logger, requestId: string = randomUUID()): void {
  if (isRefusal(error)) return answerRefusal(res, error);
  if (clientClosed(error)) return void logger.debug({ requestId }, "the client closed the connection before its request was read");
  const status = error instanceof BodyError ? error.status : 500;
  if (status === 500) logger.error({ err: error, requestId }, "unexpected error serving /graphql");
  if (!res.headersSent) res.writeHead(status, { "content-type": "application/json", [REQUEST_ID_HEADER]: requestId });
  const body =
    status === 500
      ? { message: INTERNAL_ERROR_MESSAGE, extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId } }
      : { message: (error as Error).message, extensions: { code: "BAD_REQUEST" } };
  res.end(JSON.stringify({ errors: [body] }));
}

/** Node's error for a request body cut off by the client closing its connection (an `aborted` IncomingMessage): no one to answer. */
const clientClosed = (error: unknown) => {
  const { message, code } = (error ?? {}) as { message?: unknown; code?: unknown };
  return message === "aborted" && code === "ECONNRESET";
};

/** Answers a request refused before GraphQL ran (an operation limit, a bad string input) with the error's HTTP status. */
function answerRefusal(res: ResponseLike, error: GraphQLError): void {
  const { http: httpExtension, ...extensions } = error.extensions as { http?: { status?: number } };
  if (!res.headersSent) res.writeHead(httpExtension?.status ?? 400, { "content-type": "application/json" });
  res.end(JSON.stringify({ errors: [{ message: error.message, extensions }] }));
}
