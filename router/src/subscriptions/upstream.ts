import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { Repeater } from "@repeaterjs/repeater";
import type { ExecutionResult } from "graphql";
import type { Logger } from "../../../common/logger.ts";

export interface UpstreamRequest {
  query: string;
  operationName?: string;
  variables: Record<string, unknown>;
  /** Carries the signed identity and request id as `extensions.headers`. */
  extensions: { headers: Record<string, string> };
}

/**
 * One multiplexed graphql-ws connection from this router to each subgraph, opened on first use and
 * reopened with backoff when it drops (graphql-ws resubscribes active operations on reconnect).
 */
export function createUpstreams(subgraphUrls: Record<string, string>, logger: Logger) {
  const clients = new Map<string, Client>();

  function clientFor(service: string): Client {
    let client = clients.get(service);
    if (client) return client;
    const url = subgraphUrls[service];
    if (!url) throw new Error(`No URL for subgraph ${service}`);
    client = createClient({
      url: url.replace(/^http/, "ws"),
      webSocketImpl: WebSocket,
      lazy: true,
      lazyCloseTimeout: 5_000,
      keepAlive: 10_000,
      connectionAckWaitTimeout: 5_000,
      retryAttempts: Number.MAX_SAFE_INTEGER,
      shouldRetry: () => true,
      on: {
        connected: () => logger.info({ service }, "subscription upstream connected"),
        closed: () => logger.debug({ service }, "subscription upstream closed"),
      },
    });
    clients.set(service, client);
    return client;
  }

  return {
    subscribe(service: string, request: UpstreamRequest): AsyncIterable<ExecutionResult> {
      return new Repeater<ExecutionResult>(async (push, stop) => {
        const unsubscribe = clientFor(service).subscribe<Record<string, unknown>>(request, {
          next: (result) => void push(result as ExecutionResult),
          error: (error) => stop(error instanceof Error ? error : new Error(`upstream ${service} closed the subscription`)),
          complete: () => stop(),
        });
        await stop;
        unsubscribe();
      });
    },
    async close() {
      await Promise.all([...clients.values()].map((c) => c.dispose()));
      clients.clear();
    },
  };
}

export type Upstreams = ReturnType<typeof createUpstreams>;
