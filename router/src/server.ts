import { ApolloServerPluginLandingPageLocalDefault, ApolloServerPluginLandingPageProductionDefault } from "@apollo/server/plugin/landingPage/default";
import { verifyClientToken } from "../../common/identity.ts";
import { createService } from "../../common/service.ts";
import type { Logger } from "../../common/logger.ts";
import { createGateway } from "./gateway.ts";
import type { RouterContext } from "./context.ts";

export interface RouterOptions {
  supergraphSdl: string;
  subgraphUrls: Record<string, string>;
  jwtSecret: string;
  internalSecret: string;
  logger: Logger;
  /** Per subgraph call, in ms (default 10 000). */
  subgraphTimeoutMs?: number;
  /** Sandbox landing page in development, the production landing page otherwise. */
  development?: boolean;
}

/** The federation router: verifies the caller's JWT, plans over the supergraph and calls the subgraphs. */
export async function createRouter(options: RouterOptions) {
  const gateway = createGateway({
    supergraphSdl: options.supergraphSdl,
    subgraphUrls: options.subgraphUrls,
    internalSecret: options.internalSecret,
    timeoutMs: options.subgraphTimeoutMs ?? 10_000,
  });
  return createService<RouterContext>({
    name: "router",
    logger: options.logger,
    gateway,
    readiness: Object.entries(options.subgraphUrls).map(([name, url]) => ({
      name,
      check: async () => {
        const response = await fetch(new URL("/ready", url), { signal: AbortSignal.timeout(1_000) });
        if (!response.ok) throw new Error(`${name} answered ${response.status}`);
      },
    })),
    plugins: [
      options.development ?? true
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
        : ApolloServerPluginLandingPageProductionDefault({ footer: false }),
    ],
    context: async (base, req) => ({ ...base, identity: await verifyClientToken(req.header("authorization"), options.jwtSecret) }),
  });
}
