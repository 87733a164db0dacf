import { Agent, request as undiciRequest } from "undici";
import { ApolloGateway, RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions, type ServiceMap } from "@apollo/gateway";
import type { RouterContext } from "./context.ts";
import { createIdentitySigner, forwardedHeaders, type IdentitySigner } from "./forwarding.ts";

export interface GatewayOptions {
  supergraphSdl: string;
  /** Subgraph name -> URL to call (overrides the URL composed into the supergraph). */
  subgraphUrls: Record<string, string>;
  internalSecret: string;
  /** Per-call timeout in ms. */
  timeoutMs: number;
}

/**
 * A fetch-compatible function on undici's pooled keep-alive client: global `fetch` (WHATWG streams) was
 * a third of the router's CPU. Every call is bounded by the timeout.
 */
function createFetcher(agent: Agent, timeoutMs: number) {
  return async (url: string, init: { method?: string; headers?: Record<string, string>; body?: string }) => {
    const response = await undiciRequest(url, {
      method: (init.method ?? "POST") as "POST",
      headers: init.headers,
      body: init.body,
      dispatcher: agent,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await response.body.text();
    const headers = new Headers();
    for (const [name, value] of Object.entries(response.headers)) if (typeof value === "string") headers.set(name, value);
    const fetched = {
      ok: response.statusCode >= 200 && response.statusCode < 300,
      status: response.statusCode,
      statusText: "",
      url,
      headers,
      text: async () => text,
      json: async () => JSON.parse(text) as unknown,
      clone: () => fetched,
    };
    return fetched;
  };
}

/** Forwards what every subgraph call carries (forwarding.ts) on the gateway's fetches. */
class SubgraphDataSource extends RemoteGraphQLDataSource<RouterContext> {
  constructor(
    url: string,
    private readonly sign: IdentitySigner,
    fetcher: ReturnType<typeof createFetcher>,
  ) {
    super({ url, fetcher: fetcher as never });
  }

  override async willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<RouterContext>) {
    const ctx = context as Partial<RouterContext>;
    if (!ctx.identity) return; // health checks and schema loading run without a request
    const caller = { identity: ctx.identity, requestId: ctx.requestId!, clientIp: ctx.clientIp };
    for (const [name, value] of Object.entries(forwardedHeaders(this.sign, caller))) request.http?.headers.set(name, value);
  }
}

/**
 * The gateway plus what others reuse: its data sources (the subscription executor's entity fetches), the
 * identity signer and the connection pool (the single-subgraph pass-through).
 */
export function createGateway(options: GatewayOptions) {
  const services: ServiceMap = {};
  const sign = createIdentitySigner(options.internalSecret);
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 128, connectTimeout: Math.min(options.timeoutMs, 5_000) });
  const fetcher = createFetcher(agent, options.timeoutMs);
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    buildService: ({ name, url }) => {
      const source = new SubgraphDataSource(options.subgraphUrls[name] ?? url!, sign, fetcher);
      services[name] = source;
      return source;
    },
  });
  return { gateway, services, sign, agent, close: () => agent.close() };
}
