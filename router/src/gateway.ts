import { Agent, request as undiciRequest } from "undici";
import { ApolloGateway, RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions, type ServiceMap } from "@apollo/gateway";
import { LRUCache } from "lru-cache";
import { IDENTITY_HEADER, signInternalIdentity, type Identity } from "../../common/identity.ts";
import { CLIENT_IP_HEADER, type RouterContext } from "./context.ts";

export interface GatewayOptions {
  supergraphSdl: string;
  /** Subgraph name -> URL to call (overrides the URL composed into the supergraph). */
  subgraphUrls: Record<string, string>;
  internalSecret: string;
  /** Per-call timeout in ms. */
  timeoutMs: number;
}

/** Signs the identity a subgraph will trust once per caller and reuses it for 30 s (it is valid for 60 s). */
export function createIdentitySigner(secret: string) {
  const cache = new LRUCache<string, string>({ max: 50_000, ttl: 30_000 });
  return (identity: Identity) => {
    const key = JSON.stringify([identity.user?.id ?? null, identity.user?.roles ?? [], identity.authError ?? null]);
    let signed = cache.get(key);
    if (!signed) cache.set(key, (signed = signInternalIdentity(identity, secret)));
    return signed;
  };
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

/** What every subgraph call carries: the caller's signed identity, the request id and the client's address. */
export function forwardedHeaders(sign: (identity: Identity) => string, identity: Identity, requestId: string, clientIp: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { [IDENTITY_HEADER]: sign(identity), "x-request-id": requestId };
  if (clientIp) headers[CLIENT_IP_HEADER] = clientIp;
  return headers;
}

/** Forwards the caller's verified identity (subgraphs trust nothing else) and the request id. */
class SubgraphDataSource extends RemoteGraphQLDataSource<RouterContext> {
  constructor(
    url: string,
    private readonly sign: (identity: Identity) => string,
    fetcher: ReturnType<typeof createFetcher>,
  ) {
    super({ url, fetcher: fetcher as never });
  }

  override async willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<RouterContext>) {
    const ctx = context as Partial<RouterContext>;
    if (!ctx.identity) return; // health checks and schema loading run without a request
    for (const [name, value] of Object.entries(forwardedHeaders(this.sign, ctx.identity, ctx.requestId!, ctx.clientIp))) request.http?.headers.set(name, value);
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
