import type http from "node:http";
import { getOperationAST, parse, type DocumentNode, type ExecutionResult } from "graphql";
import { formatResult } from "./format.ts";
import type { SubscribeArgs } from "./subscribe.ts";
import type { RouterContext } from "../context.ts";

/** Apollo's multipart HTTP subscription protocol: one JSON part per event, `{}` heartbeats. */
const BOUNDARY = "graphql";
const CONTENT_TYPE = `multipart/mixed;boundary="${BOUNDARY}";subscriptionSpec="1.0"`;

export interface MultipartOptions {
  subscribe: (args: SubscribeArgs) => AsyncIterable<ExecutionResult> | ExecutionResult;
  context: (req: http.IncomingMessage) => Promise<RouterContext>;
  /** Interval of `{}` heartbeat parts in ms (default 5 000, as Apollo's router). */
  heartbeatMs?: number;
}

const acceptsMultipartSubscription = (req: http.IncomingMessage) =>
  /multipart\/mixed/i.test(req.headers.accept ?? "") && /subscriptionSpec/i.test(req.headers.accept ?? "");

/**
 * Each part is followed at once by the next delimiter, so a client can hand an event on as soon as it
 * arrives instead of waiting for the following part (the stream opens with `\r\n--graphql`).
 */
const OPEN = `\r\n--${BOUNDARY}`;
const part = (body: unknown) => `\r\ncontent-type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}\r\n--${BOUNDARY}`;
const CLOSE = "--\r\n";

/**
 * Looks at `POST /graphql` before Apollo Server: a subscription whose client accepts multipart responses
 * is streamed here (returns true); everything else goes on to Apollo Server (returns false).
 */
export function multipartSubscriptions(options: MultipartOptions) {
  const heartbeatMs = options.heartbeatMs ?? 5_000;
  return async (req: http.IncomingMessage, res: http.ServerResponse, rawBody: unknown): Promise<boolean> => {
    const body = rawBody as { query?: unknown; operationName?: unknown; variables?: unknown } | undefined;
    if (req.method !== "POST" || typeof body?.query !== "string" || !/\bsubscription\b/.test(body.query)) return false;
    let document: DocumentNode;
    try {
      document = parse(body.query);
    } catch {
      return false; // Apollo Server answers parse errors in its usual shape
    }
    const operationName = typeof body.operationName === "string" ? body.operationName : null;
    if (getOperationAST(document, operationName)?.operation !== "subscription") return false;
    if (!acceptsMultipartSubscription(req)) {
      res.writeHead(400, { "content-type": "application/json" }).end(
        JSON.stringify({
          errors: [
            {
              message:
                'Subscriptions over HTTP need "Accept: multipart/mixed;subscriptionSpec=1.0"; or use WebSocket (graphql-transport-ws) on this URL.',
              extensions: { code: "BAD_REQUEST" },
            },
          ],
        }),
      );
      return true;
    }

    const context = await options.context(req);
    const variables = (body.variables ?? {}) as Record<string, unknown>;
    const stream = options.subscribe({ document, source: body.query, operationName, variables, context });
    res.writeHead(200, { "content-type": CONTENT_TYPE, "cache-control": "no-cache" });
    if (!(Symbol.asyncIterator in stream)) {
      res.end(`${OPEN}${part({ payload: null, errors: formatResult(stream).errors })}${CLOSE}`);
      return true;
    }
    const iterator = stream[Symbol.asyncIterator]();
    const heartbeat = setInterval(() => res.write(part({})), heartbeatMs);
    res.write(OPEN + part({}));
    res.on("close", () => {
      clearInterval(heartbeat);
      void iterator.return?.();
    });
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) res.write(part({ payload: formatResult(next.value) }));
    } finally {
      clearInterval(heartbeat);
      if (!res.writableEnded) res.end(CLOSE);
    }
    return true;
  };
}
