import { ApolloGateway, RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions, type ServiceMap } from "@apollo/gateway";
import { signInternalIdentity, IDENTITY_HEADER, type Identity } from "../../common/identity.ts";
import type { RouterContext } from "./context.ts";

export interface GatewayOptions {
  supergraphSdl: string;
  /** Subgraph name -> URL to call (overrides the URL composed into the supergraph). */
  subgraphUrls: Record<string, string>;
  internalSecret: string;
  /** Per-call timeout in ms. */
  timeoutMs: number;
}

/**
 * Forwards the caller's verified identity as a short-lived token signed with INTERNAL_SECRET (subgraphs
 * trust nothing else), plus the request id. Calls go through Node's fetch, which keeps connections alive.
 */
class IdentityForwardingDataSource extends RemoteGraphQLDataSource<RouterContext> {
  constructor(
    url: string,
    private readonly internalSecret: string,
    timeoutMs: number,
  ) {
    super({
      url,
      fetcher: ((input: string, init: RequestInit) => fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) })) as never,
    });
  }

  override async willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<RouterContext>) {
    const ctx = context as Partial<RouterContext>;
    if (!ctx.identity) return; // health checks and schema loading run without a request
    request.http?.headers.set(IDENTITY_HEADER, await this.forwardedIdentity(ctx as RouterContext));
    request.http?.headers.set("x-request-id", ctx.requestId!);
  }

  private async forwardedIdentity(ctx: RouterContext): Promise<string> {
    ctx.forwardedIdentity ??= signInternalIdentity(ctx.identity as Identity, this.internalSecret);
    return ctx.forwardedIdentity;
  }
}

/** The gateway plus its data sources, which the subscription executor reuses for entity fetches. */
export function createGateway(options: GatewayOptions): { gateway: ApolloGateway; services: ServiceMap } {
  const services: ServiceMap = {};
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    buildService: ({ name, url }) => {
      const source = new IdentityForwardingDataSource(options.subgraphUrls[name] ?? url!, options.internalSecret, options.timeoutMs);
      services[name] = source;
      return source;
    },
  });
  return { gateway, services };
}
