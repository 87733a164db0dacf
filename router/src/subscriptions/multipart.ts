import type http from "node:http";
import { getOperationAST, parse, type DocumentNode, type ExecutionResult } from "graphql";
import { formatResult } from "./format.ts";
import type { SubscribeArgs } from "./subscribe.ts";
import type { RouterContext } from "../context.ts";
import { createSubscriptionGuard, untilExpiry, type Release, type SubscriptionGuard } from "./subscription-guard.ts";
import type { Logger } from "../../../common/logger.ts";

/** Apollo's multipart HTTP subscription protocol: one JSON part per event, `{}` heartbeats. */
const BOUNDARY = "graphql";
const CONTENT_TYPE = `multipart/mixed;boundary="${BOUNDARY}";subscriptionSpec="1.0"`;

export interface MultipartOptions {
  subscribe: (args: SubscribeArgs) => AsyncIterable<ExecutionResult> | ExecutionResult;
  context: (req: http.IncomingMessage) => Promise<RouterContext>;
  /** Interval of `{}` heartbeat parts in ms (default 5 000, as Apollo's router). */
  heartbeatMs?: number;
  logger: Logger;
  /** Caps and the slow-reader bound, shared with WebSocket (a stream is one socket with one subscription). */
  guard?: SubscriptionGuard;
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
 * The last part of a stream whose token expired: Apollo's multipart protocol ends a subscription for a transport
 * error with a part whose `payload` is null and `errors` say why. It stands for the WebSocket's 4403 close.
 */
const EXPIRED_PART = part({ payload: null, errors: [{ message: "Token has expired.", extensions: { code: "UNAUTHENTICATED" } }] });

/** A stream refused at a cap, before it starts: 429 and RATE_LIMITED, as the router's rate limits answer. */
function refuse(res: http.ServerResponse, message: string) {
  res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
  res.end(JSON.stringify({ errors: [{ message, extensions: { code: "RATE_LIMITED", retryAfterMs: 1_000 } }] }));
  return true;
}

/** Claims a stream's slots (address, user, its one subscription); the message says which cap refused. */
function claimSlots(guard: SubscriptionGuard, address: string, userId: string | undefined): Release[] | string {
  const releases: Release[] = [];
  const claims: (() => Release | string)[] = [
    () => guard.claimAddress(address) ?? "Too many subscription connections from this address.",
    ...(userId ? [() => guard.claimUser(userId) ?? "Too many subscription connections for this user."] : []),
    () => guard.claimSubscription(address, userId),
  ];
  for (const claim of claims) {
    const release = claim();
    if (typeof release === "string") {
      releases.forEach((r) => r());
      return release;
    }
    releases.push(release);
  }
  return releases;
}

/**
 * Looks at `POST /graphql` before Apollo Server: a subscription whose client accepts multipart responses
 * is streamed here (returns true); everything else goes on to Apollo Server (returns false).
 */
export function multipartSubscriptions(options: MultipartOptions) {
  const heartbeatMs = options.heartbeatMs ?? 5_000;
  const guard = options.guard ?? createSubscriptionGuard({ logger: options.logger });
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
    const address = guard.clientAddressOf(req);
    const slots = claimSlots(guard, address, context.identity.user?.id);
    if (typeof slots === "string") return refuse(res, slots);
    res.on("close", () => slots.forEach((release) => release()));
    const variables = (body.variables ?? {}) as Record<string, unknown>;
    const stream = options.subscribe({ document, source: body.query, operationName, variables, context });
    res.writeHead(200, { "content-type": CONTENT_TYPE, "cache-control": "no-cache" });
    if (!(Symbol.asyncIterator in stream)) {
      res.end(`${OPEN}${part({ payload: null, errors: formatResult(stream, context).errors })}${CLOSE}`);
      return true;
    }
    const iterator = stream[Symbol.asyncIterator]();
    /** Writes a part; a client that has left more than the bound unread is dropped rather than buffered for. */
    const write = (chunk: string) => {
      if (res.writableEnded || res.destroyed) return;
      res.write(chunk);
      if (guard.overBuffered(res.writableLength)) {
        guard.dropped("multipart", { address, userId: context.identity.user?.id, bufferedBytes: res.writableLength });
        res.destroy();
      }
    };
    const heartbeat = setInterval(() => write(part({})), heartbeatMs);
    const expiresAt = context.identity.expiresAt;
    const stopExpiry = expiresAt === undefined ? () => undefined : untilExpiry(expiresAt, () => !res.writableEnded && res.end(EXPIRED_PART + CLOSE));
    write(OPEN + part({}));
    res.on("close", () => {
      clearInterval(heartbeat);
      stopExpiry();
      void iterator.return?.();
    });
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) write(part({ payload: formatResult(next.value, context) }));
    } finally {
      clearInterval(heartbeat);
      stopExpiry();
      if (!res.writableEnded && !res.destroyed) res.end(CLOSE);
    }
    return true;
  };
}
