import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from "@apollo/client";
import { Defer20220824Handler } from "@apollo/client/incremental";
import { SetContextLink } from "@apollo/client/link/context";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import persistedDocuments from "../../schema/persisted-documents.json";
import { createPersistedLink } from "./persisted-link.ts";

export type ConnectionState = "connecting" | "live" | "reconnecting";

export interface Connection {
  client: ApolloClient;
  /** The subscription socket's state, for the "live / reconnecting" badge. */
  state: () => ConnectionState;
  /** The close code and reason of the socket's last close (diagnostics: shown as the badge's title). */
  lastClose: () => string;
  onStateChange: (listener: () => void) => () => void;
  dispose: () => void;
}

/**
 * One Apollo Client per signed-in identity: subscriptions over graphql-ws (reconnecting forever, with
 * backoff), everything else over HTTP (HttpLink speaks Apollo's multipart protocol for @defer), sent by the
 * id of its persisted document (persisted-link.ts; graphql-ws sends the text, which the manifest holds too). After the
 * socket comes back, active queries are refetched, and subscriptions resubscribe, so a page recovers by
 * itself from a router restart.
 */
export function createConnection(graphqlUrl: string, token: string | null): Connection {
  let state: ConnectionState = "connecting";
  let lastClose = "";
  const listeners = new Set<() => void>();
  const setState = (next: ConnectionState) => {
    state = next;
    listeners.forEach((listener) => listener());
  };
  const authorization = token ? `Bearer ${token}` : undefined;

  const ws = createClient({
    url: graphqlUrl.replace(/^http/, "ws"),
    connectionParams: authorization ? { authorization } : {},
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** retries, 3_000) * (0.5 + Math.random() / 2))),
    on: {
      connecting: (isRetry) => setState(isRetry ? "reconnecting" : "connecting"),
      connected: (_socket, _payload, wasRetry) => {
        setState("live");
        if (wasRetry) void client.refetchObservableQueries();
      },
      closed: (event) => {
        const { code, reason } = event as { code?: number; reason?: string };
        lastClose = `${code ?? "?"} ${reason ?? ""}`.trim();
        setState("reconnecting");
      },
    },
  });

  const http = ApolloLink.from([
    new SetContextLink(({ headers }) => ({ headers: { ...headers, ...(authorization ? { authorization } : {}) } })),
    createPersistedLink(persistedDocuments),
    new HttpLink({ uri: graphqlUrl }),
  ]);
  const isSubscription = ({ query }: ApolloLink.Operation) => {
    const definition = getMainDefinition(query);
    return definition.kind === "OperationDefinition" && definition.operation === "subscription";
  };

  const client: ApolloClient = new ApolloClient({
    link: ApolloLink.split(isSubscription, new GraphQLWsLink(ws), http),
    // The router answers @defer over multipart/mixed; deferSpec=20220824 (docs/read-path.md).
    incrementalHandler: new Defer20220824Handler(),
    cache: new InMemoryCache({
      typePolicies: {
        // Stock has no id of its own: one per product. Live stockChanged events are written into it.
        Stock: { keyFields: ["productId"] },
        // A sale's items have no id; the latest list (from flashSaleChanged or a query) replaces the old one.
        FlashSale: { fields: { items: { merge: false } } },
      },
    }),
  });

  return {
    client,
    state: () => state,
    lastClose: () => lastClose,
    onStateChange: (listener) => (listeners.add(listener), () => void listeners.delete(listener)),
    dispose: () => {
      void ws.dispose();
      client.stop();
    },
  };
}
