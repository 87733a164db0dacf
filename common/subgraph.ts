import { buildSubgraph } from "./schema.ts";
import { createInternalIdentityReader, IDENTITY_HEADER, type Identity } from "./identity.ts";
import { createService, type BaseContext, type ServiceOptions } from "./service.ts";

export interface SubgraphServiceOptions<TContext extends BaseContext> extends Omit<ServiceOptions<TContext>, "schema" | "gateway" | "context"> {
  /** The subgraph's `schema.graphql` (also the input of `npm run compose`). */
  schemaFile: URL;
  resolvers: unknown;
  /** Verifies the identity the router forwards (`x-flashgraph-identity`). */
  internalSecret: string;
  /** The subgraph's own context, given the base context with the caller's verified identity. */
  context: (base: BaseContext & { identity: Identity }, header: (name: string) => string | undefined) => Promise<TContext> | TContext;
}

/**
 * A federation subgraph's service: its schema built from the SDL file and resolvers, and every operation's
 * context carrying the identity the router forwarded (anonymous when it is missing or not valid).
 */
export function createSubgraphService<TContext extends BaseContext>(options: SubgraphServiceOptions<TContext>) {
  const { schemaFile, resolvers, internalSecret, context, ...service } = options;
  const readIdentity = createInternalIdentityReader(internalSecret);
  return createService<TContext>({
    ...service,
    schema: buildSubgraph(schemaFile, resolvers as never),
    context: async (base, header) => context({ ...base, identity: await readIdentity(header(IDENTITY_HEADER)) }, header),
  });
}
