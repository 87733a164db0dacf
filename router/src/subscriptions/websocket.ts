import type http from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { useServer } from "graphql-ws/use/ws";
import { CloseCode } from "graphql-ws";
import { GraphQLError, getOperationAST, parse, type ExecutionResult } from "graphql";
import { randomUUID } from "node:crypto";
import { createClientTokenVerifier, type Identity } from "../../../common/identity.ts";
import { formatError } from "../../../common/errors.ts";
import { formatResult } from "./format.ts";
import { createNextFrames } from "./next-frames.ts";
import type { Logger } from "../../../common/logger.ts";
import type { SubscribeArgs } from "./subscribe.ts";
import type { RouterContext } from "../context.ts";

export interface WebSocketOptions {
  httpServer: http.Server;
  subscribe: (args: SubscribeArgs) => AsyncIterable<ExecutionResult> | ExecutionResult;
  schema: import("graphql").GraphQLSchema;
  jwtSecret: string;
  logger: Logger;
  /** Browser origins allowed to open a socket; empty allows any (development). Non-browser clients send no Origin. */
  allowedOrigins?: string[];
  /** Active subscriptions one socket may hold (default 100). */
  maxSubscriptionsPerSocket?: number;
  /** Time a client has to send `connection_init` before the socket is closed with 4408 (default 3 000 ms). */
  connectionInitWaitTimeoutMs?: number;
  /** WebSocket ping interval in ms (default 12 000). */
  keepAliveMs?: number;
}

interface SocketState {
  identity?: Identity;
  active: Set<string>;
}

/**
 * graphql-ws (`graphql-transport-ws`) on the router's own port and path. Identity comes from
 * `connectionParams.authorization`; a token that is present but invalid closes the socket with 4403.
 */
export function attachWebSocket(options: WebSocketOptions) {
  const { logger } = options;
  const maxSubscriptions = options.maxSubscriptionsPerSocket ?? 100;
  const allowed = new Set(options.allowedOrigins ?? []);
  // No permessage-deflate (also ws's default): next frames are written pre-encoded and uncompressed, and
  // compressing 5000 copies of the same small message would cost more than it saves.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const states = new WeakMap<object, SocketState>();
  const verify = createClientTokenVerifier(options.jwtSecret);
  const nextFrame = createNextFrames();
  // Each WebSocket's TCP socket, for writing pre-encoded `next` frames to it directly (see next-frames.ts).
  const transports = new WeakMap<WebSocket, Duplex>();

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (new URL(req.url ?? "/", "http://x").pathname !== "/graphql") return socket.destroy();
    const origin = req.headers.origin;
    if (origin && allowed.size > 0 && !allowed.has(origin)) {
      socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      transports.set(ws, socket);
      wss.emit("connection", ws, req);
    });
  };
  options.httpServer.on("upgrade", onUpgrade);

  const server = useServer<Record<string, unknown>, { state: SocketState }>(
    {
      schema: options.schema,
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs ?? 3_000,
      onConnect: async (ctx) => {
        const raw = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const identity = await verify(typeof raw === "string" ? raw : undefined);
        if (raw && !identity.user) return false; // graphql-ws closes with 4403 Forbidden
        states.set(ctx.extra.socket, { identity, active: new Set() });
        return true;
      },
      onSubscribe: (ctx, id, payload) => {
        const state = states.get(ctx.extra.socket)!;
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error as GraphQLError];
        }
        if (getOperationAST(document, payload.operationName)?.operation !== "subscription") {
          return [
            new GraphQLError("Only subscriptions go over WebSocket; send queries and mutations over HTTP.", { extensions: { code: "BAD_REQUEST" } }),
          ];
        }
        if (state.active.size >= maxSubscriptions) {
          return [
            new GraphQLError(`At most ${maxSubscriptions} subscriptions per connection.`, { extensions: { code: "RATE_LIMITED", retryAfterMs: 0 } }),
          ];
        }
        state.active.add(id);
        const requestId = randomUUID();
        const socket = ctx.extra.socket;
        const transport = transports.get(socket)!;
        const contextValue: RouterContext = {
          requestId,
          logger: logger.child({ requestId }),
          identity: state.identity!,
          operationSource: payload.query,
          sendNext: (json) => {
            // Written beside `ws`'s own frames, which it writes whole and synchronously (no compression here,
            // no Blobs), so frames never interleave; OPEN means no close frame has been sent yet.
            if (socket.readyState === socket.OPEN && state.active.has(id)) transport.write(nextFrame(id, json));
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
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? (formatResult(result) as never) : result),
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => formatError(e.toJSON())),
      onComplete: (ctx, id) => void states.get(ctx.extra.socket)?.active.delete(id),
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
