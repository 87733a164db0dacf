import type http from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { useServer } from "graphql-ws/use/ws";
import { CloseCode } from "graphql-ws";
import { GraphQLError, getOperationAST, parse, type DocumentNode, type ExecutionResult } from "graphql";
import { randomUUID } from "node:crypto";
import type { Identity } from "../../../common/identity.ts";
import { formatError, logUnexpectedErrors, unauthenticated } from "../../../common/errors.ts";
import type { OperationRequest } from "../../../common/operation-limits.ts";
import { formatResult } from "./format.ts";
import { createNextFrames } from "./next-frames.ts";
import type { Logger } from "../../../common/logger.ts";
import type { SubscribeArgs } from "./subscribe.ts";
import type { RouterContext } from "../context.ts";
import { capError, createSubscriptionGuard, untilExpiry, type Release, type SubscriptionGuard } from "./subscription-guard.ts";

/** Close codes of this socket beyond graphql-ws's own (4403 Forbidden, 4408 init timeout, ...). */
export const SocketCloseCode = {
  /** Over a socket cap: too many sockets from the client's address or for the user (graphql-ws clients do not retry it). */
  TooManySockets: 4429,
  /** The token expired while the socket was open, or before a `subscribe` (graphql-ws clients reconnect, with a fresh token from `connectionParams`). */
  TokenExpired: CloseCode.Forbidden,
} as const;

export interface WebSocketOptions {
  httpServer: http.Server;
  subscribe: (args: SubscribeArgs) => AsyncIterable<ExecutionResult> | ExecutionResult;
  schema: import("graphql").GraphQLSchema;
  /** The router's verifier of client tokens (common/identity.ts `createClientTokenVerifier`). */
  identityOf: (authorization: string | undefined) => Promise<Identity>;
  logger: Logger;
  /** Browser origins allowed to open a socket, as for HTTP (cors.ts; default any). Non-browser clients send no Origin. */
  allowsOrigin?: (origin: string) => boolean;
  /** Active subscriptions one socket may hold (default 100). */
  maxSubscriptionsPerSocket?: number;
  /** Time a client has to send `connection_init` before the socket is closed with 4408 (default 3 000 ms). */
  connectionInitWaitTimeoutMs?: number;
  /** WebSocket ping interval in ms (default 12 000). */
  keepAliveMs?: number;
  /**
   * Largest message a client may send, in bytes (WS_MAX_MESSAGE_BYTES; default 64 KiB): `ws` closes the socket with
   * 1009 as soon as a frame header announces more, before the bytes are buffered or parsed.
   */
  maxMessageBytes?: number;
  /** Parses a `subscribe` document under the operation limits (common/operation-limits.ts; default: plain `parse`). */
  operationGuard?: (request: OperationRequest) => DocumentNode;
  /** Socket and subscription caps and the slow-reader bound, shared with multipart streams (default: the default limits). */
  guard?: SubscriptionGuard;
  /** The clock token expiry is measured on (default `Date.now`; tests move it). */
  now?: () => number;
}

interface SocketState {
  address: string;
  identity?: Identity;
  /** Active subscription ids, each with the user's subscription slot it holds. */
  active: Map<string, Release>;
  /** Slots and timers given back when the socket closes. */
  releases: Release[];
}

/**
 * graphql-ws (`graphql-transport-ws`) on the router's own port and path. Identity comes from
 * `connectionParams.authorization`; a token that is present but invalid closes the socket with 4403, and so
 * does its expiry while the socket is open.
 */
export function attachWebSocket(options: WebSocketOptions) {
  const { logger } = options;
  const maxSubscriptions = options.maxSubscriptionsPerSocket ?? 100;
  const guard = options.guard ?? createSubscriptionGuard({ logger });
  const now = options.now ?? Date.now;
  const parseOperation = options.operationGuard ?? ((request: OperationRequest) => parse(request.query));
  // No permessage-deflate (also ws's default): next frames are written pre-encoded and uncompressed, and
  // compressing 5000 copies of the same small message would cost more than it saves.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.maxMessageBytes ?? 64 * 1024 });
  const states = new WeakMap<object, SocketState>();
  const nextFrame = createNextFrames();
  // Each WebSocket's TCP socket, for writing pre-encoded `next` frames to it directly (see next-frames.ts).
  const transports = new WeakMap<WebSocket, Duplex>();

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? "/", "http://x").pathname !== "/graphql") return socket.destroy();
    const origin = req.headers.origin;
    if (origin && options.allowsOrigin && !options.allowsOrigin(origin)) {
      socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const address = guard.clientAddressOf(req);
      const releaseAddress = guard.claimAddress(address);
      if (!releaseAddress) return ws.close(SocketCloseCode.TooManySockets, "Too many sockets from this address");
      const state: SocketState = { address, active: new Map(), releases: [releaseAddress] };
      states.set(ws, state);
      transports.set(ws, socket);
      ws.once("close", () => {
        state.releases.forEach((release) => release());
        state.active.forEach((release) => release());
      });
      wss.emit("connection", ws, req);
      // `ws` closes the socket itself on every receive error (1009 too big, 1002 protocol, 1007 bad UTF-8) and
      // then emits it; graphql-ws's listener would print each one with console.error and try a 4500 close.
      ws.removeAllListeners("error");
      ws.on("error", (error) => logger.debug({ err: error, address }, "websocket closed on a receive error"));
    });
  };
  options.httpServer.on("upgrade", onUpgrade);

  const server = useServer<Record<string, unknown>, { state: SocketState }>(
    {
      schema: options.schema,
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs ?? 3_000,
      onConnect: async (ctx) => {
        const socket = ctx.extra.socket;
        const state = states.get(socket)!;
        const raw = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const identity = await options.identityOf(typeof raw === "string" ? raw : undefined);
        if (raw && !identity.user) return false; // graphql-ws closes with 4403 Forbidden
        if (socket.readyState !== socket.OPEN) return false;
        if (identity.user) {
          const releaseUser = guard.claimUser(identity.user.id);
          if (!releaseUser) {
            socket.close(SocketCloseCode.TooManySockets, "Too many sockets for this user");
            return false;
          }
          state.releases.push(releaseUser);
        }
        if (identity.expiresAt !== undefined) {
          state.releases.push(untilExpiry(identity.expiresAt, () => socket.close(SocketCloseCode.TokenExpired, "Token has expired"), now));
        }
        state.identity = identity;
        return true;
      },
      onSubscribe: (ctx, id, payload) => {
        const socket = ctx.extra.socket;
        const state = states.get(socket)!;
        const identity = state.identity!;
        // Messages `ws` had already received are still handed on after a slow reader is cut: start nothing for them.
        if (socket.readyState !== socket.OPEN) return [new GraphQLError("The socket is closed.", { extensions: { code: "BAD_REQUEST" } })];
        // Checked on every subscribe too: the expiry timer may not have run yet.
        if (identity.expiresAt !== undefined && identity.expiresAt <= now()) {
          socket.close(SocketCloseCode.TokenExpired, "Token has expired");
          return [unauthenticated("Token has expired.")];
        }
        let document;
        try {
          document = parseOperation({ query: payload.query, variables: payload.variables ?? undefined });
        } catch (error) {
          return [error as GraphQLError];
        }
        if (getOperationAST(document, payload.operationName)?.operation !== "subscription") {
          return [
            new GraphQLError("Only subscriptions go over WebSocket; send queries and mutations over HTTP.", { extensions: { code: "BAD_REQUEST" } }),
          ];
        }
        if (state.active.size >= maxSubscriptions) return [capError(`At most ${maxSubscriptions} subscriptions per connection.`)];
        const releaseSubscription = guard.claimSubscription(state.address, identity.user?.id);
        if (typeof releaseSubscription === "string") return [capError(releaseSubscription)];
        state.active.set(id, releaseSubscription);
        const requestId = randomUUID();
        const transport = transports.get(socket)!;
        const contextValue: RouterContext = {
          requestId,
          logger: logger.child({ requestId }),
          identity,
          operationSource: payload.query,
          sendNext: (json) => {
            // Written beside `ws`'s own frames, which it writes whole and synchronously (no compression here,
            // no Blobs), so frames never interleave; OPEN means no close frame has been sent yet.
            if (socket.readyState !== socket.OPEN || !state.active.has(id)) return;
            transport.write(nextFrame(id, json));
            // A client that reads slower than events arrive would otherwise grow router memory without bound. Its
            // buffer is full, so a close frame would never get through: the connection is cut.
            if (guard.overBuffered(transport.writableLength)) {
              guard.dropped("websocket", { address: state.address, userId: identity.user?.id, bufferedBytes: transport.writableLength });
              socket.terminate();
            }
          },
        };
        return { schema: options.schema, document, operationName: payload.operationName, variableValues: payload.variables ?? {}, contextValue };
      },
      subscribe: (args) =>
        options.subscribe({
          document: args.document,
          source: (args.contextValue as RouterContext).operationSource ?? "",
          operationName: args.operationName,
          variables: (args.variableValues ?? {}) as Record<string, unknown>,
          context: args.contextValue as RouterContext,
        }) as never,
      onNext: (_ctx, _id, _payload, args, result) => (result.errors ? (formatResult(result, args.contextValue as RouterContext) as never) : result),
      onError: (_ctx, _id, payload, errors) => {
        const requestId = randomUUID(); // no context yet: the subscribe was refused
        logUnexpectedErrors(errors, logger.child({ requestId }), payload.operationName);
        return errors.map((e) => formatError(e.toJSON(), requestId));
      },
      onComplete: (ctx, id) => {
        const active = states.get(ctx.extra.socket)?.active;
        active?.get(id)?.();
        active?.delete(id);
      },
    },
    wss,
    options.keepAliveMs ?? 12_000,
  );

  return {
    /** Closes every socket with 1001 (going away) and stops accepting new ones. */
    close: async () => {
      options.httpServer.off("upgrade", onUpgrade);
      await server.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
    clients: () => wss.clients.size,
  };
}

export { CloseCode };
