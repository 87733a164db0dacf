import http from "node:http";
import { readFileSync } from "node:fs";
import { ApolloGateway, RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { createGatewayRuntime } from "@graphql-hive/gateway";
import { createClientTokenVerifier } from "../common/identity.ts";
import { requestIdOf } from "../common/forwarded-headers.ts";
import { SUBGRAPHS, SUPERGRAPH_FILE } from "../schema/compose.ts";
import { createIdentitySigner, forwardedHeaders, type Caller } from "../router/src/forwarding.ts";

// A peer router for `npm run bench:gateways`, one process each, as the router runs: `node --import tsx
// bench/peer-gateway.ts apollo|hive` serves stock @apollo/gateway (in @apollo/server) or Hive Gateway on PORT
// (/graphql), with the committed supergraph whose subgraph URLs are replaced by PRODUCT_URL, INVENTORY_URL, ...
// Subgraphs trust only the router's signed identity, so each peer verifies the client's token with JWT_SECRET and
// forwards what our router forwards (router/src/forwarding.ts, signed with INTERNAL_SECRET): nothing else is
// added to the stock setups, which keep their own HTTP clients and defaults.
const kind = process.argv[2];
const port = Number(process.env.PORT);
const verifyToken = createClientTokenVerifier(required("JWT_SECRET"));
const sign = createIdentitySigner(required("INTERNAL_SECRET"));

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`peer-gateway: ${name} is not set`);
  return value;
}

/** The committed supergraph with each `@join__graph(name: ..., url: ...)` pointing at this run's subgraph. */
function supergraphSdl(): string {
  let sdl = readFileSync(SUPERGRAPH_FILE, "utf8");
  for (const { name, urlEnv } of SUBGRAPHS) {
    sdl = sdl.replace(new RegExp(`(@join__graph\\(name: "${name}", url: )"[^"]*"`), `$1"${required(urlEnv)}"`);
  }
  return sdl;
}

async function callerOf(req: http.IncomingMessage): Promise<Caller> {
  return { identity: await verifyToken(req.headers.authorization), requestId: requestIdOf(req.headers), clientIp: req.socket.remoteAddress };
}

/** Stock @apollo/gateway: the only addition is the data source's willSendRequest with the router's headers. */
async function startApolloGateway() {
  class ForwardingDataSource extends RemoteGraphQLDataSource<{ caller?: Caller }> {
    override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<{ caller?: Caller }>) {
      if (!context.caller) return; // schema loading and health checks run without a request
      for (const [name, value] of Object.entries(forwardedHeaders(sign, context.caller))) request.http?.headers.set(name, value);
    }
  }
  const gateway = new ApolloGateway({ supergraphSdl: supergraphSdl(), buildService: ({ url }) => new ForwardingDataSource({ url }) });
  const server = new ApolloServer<{ caller: Caller }>({ gateway });
  await startStandaloneServer(server, { listen: { port, host: "127.0.0.1" }, context: async ({ req }) => ({ caller: await callerOf(req) }) });
}

/** Hive Gateway's runtime on node:http: the router's headers through its header propagation, once per request. */
async function startHiveGateway() {
  const headersOf = new WeakMap<object, Promise<Record<string, string>>>();
  const runtime = createGatewayRuntime<{ req?: http.IncomingMessage }>({
    supergraph: supergraphSdl(),
    logging: "error",
    landingPage: false,
    graphiql: false,
    propagateHeaders: {
      fromClientToSubgraphs: ({ context }) => {
        const req = context.req;
        if (!req) return;
        let headers = headersOf.get(req);
        if (!headers) headersOf.set(req, (headers = callerOf(req).then((caller) => forwardedHeaders(sign, caller))));
        return headers;
      },
    },
  });
  const server = http.createServer((req, res) => void runtime(req, res));
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
}

if (kind === "apollo") await startApolloGateway();
else if (kind === "hive") await startHiveGateway();
else throw new Error(`peer-gateway: unknown kind ${kind} (apollo or hive)`);
process.once("SIGTERM", () => process.exit(0));
