import { z } from "zod";
import { invalidCidrs } from "./client-address.ts";
import { productionProblems } from "./production-config.ts";
import { clusterAddress, invalidNodes } from "./redis-address.ts";

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const flag = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0"])
    .default(fallback ? "true" : "false")
    .transform((v) => v === "true" || v === "1");

/** A comma-separated list of CIDR blocks or addresses (common/client-address.ts); default empty. */
const cidrList = z
  .string()
  .default("")
  .superRefine((list, ctx) => {
    const bad = invalidCidrs(list);
    if (bad.length > 0) ctx.addIssue({ code: "custom", message: `not an IP address or CIDR block: ${bad.join(", ")}` });
  });

/**
 * Every environment variable the platform reads, with its default. Parsed once at startup
 * (`loadConfig`) and passed down; nothing below `main.ts` reads `process.env`.
 */
const schema = z.object({
  /** `production` turns the Sandbox landing page off and masks more. */
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  /** pino log level (`npm test` uses `silent` unless set). */
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** PostgreSQL, the durable record. */
  DATABASE_URL: z.string().url().default("postgresql://postgres@127.0.0.1:5432/flashgraph"),
  /** Redis: hot stock counters, reservations, caches. */
  REDIS_URL: z.string().url().default("redis://127.0.0.1:6379"),
  /** Comma-separated Kafka bootstrap brokers. */
  KAFKA_BROKERS: z.string().min(1).default("127.0.0.1:9092"),
  /** Partitions per topic when the platform creates its topics. */
  KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(256).default(6),
  /** Prefix for every topic name, so test runs and tenants can share a broker. */
  KAFKA_TOPIC_PREFIX: z.string().default(""),
  /** HS256 secret of the client-facing JWTs (API.md, Identity). */
  JWT_SECRET: z.string().min(16).default("dev-only-jwt-secret-change-me"),
  /** HS256 secret the router signs forwarded identities with; subgraphs trust only this. */
  INTERNAL_SECRET: z.string().min(16).default("dev-only-internal-secret-change-me"),
  /** Router port. */
  PORT: port(4000),
  /** Subgraph ports. */
  PRODUCT_PORT: port(4001),
  INVENTORY_PORT: port(4002),
  ORDER_PORT: port(4003),
  FLASH_SALE_PORT: port(4004),
  /** Where the router finds each subgraph (HTTP; subscriptions use the same URL over ws://). */
  PRODUCT_URL: z.string().url().default("http://127.0.0.1:4001/graphql"),
  INVENTORY_URL: z.string().url().default("http://127.0.0.1:4002/graphql"),
  ORDER_URL: z.string().url().default("http://127.0.0.1:4003/graphql"),
  FLASH_SALE_URL: z.string().url().default("http://127.0.0.1:4004/graphql"),
  /** Timeout for every call from the router to a subgraph, in milliseconds. */
  SUBGRAPH_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Subgraphs the router sends batched operations to: "all", "none", or a comma-separated list of names. */
  SUBGRAPH_BATCHING: z.string().default("all"),
  /**
   * Browser origins allowed to call the router's `/graphql` (CORS) and open its sockets, comma-separated, each
   * as browsers send it (`https://shop.example.com`: scheme, host, port). Default empty: in development
   * localhost pages on any port and Apollo Studio are allowed anyway; production allows only this list.
   */
  CORS_ORIGINS: z
    .string()
    .default("")
    .refine(
      (list) =>
        list
          .split(",")
          .map((entry) => entry.trim())
          .every((entry) => entry === "" || (URL.canParse(entry) && new URL(entry).origin === entry)),
      "each entry must be an origin such as https://shop.example.com (scheme, host and port; lower case, no path)",
    ),
  /** Load the demo catalogue at `npm start` when the database has no products. */
  SEED: flag(true),
  /** How long placeOrder holds stock before an unpaid order expires (API.md: 15 minutes). Tests use a few seconds. */
  RESERVATION_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  /** How often the order subgraph sweeps expired reservations, in ms; 0 turns the sweeper off. */
  EXPIRY_SWEEP_INTERVAL_MS: z.coerce.number().int().min(0).default(1_000),
  /**
   * How long past its expiry a reservation with no order row is left alone before it is released, so a
   * placeOrder transaction still in flight (bounded by its 10 s timeout) is never undercut.
   */
  RESERVATION_ORPHAN_GRACE_SECONDS: z.coerce.number().int().min(1).default(60),
  /** How long a released/confirmed reservation is kept in Redis as a tombstone that makes the scripts idempotent. */
  RESERVATION_TOMBSTONE_SECONDS: z.coerce.number().int().min(60).default(259_200),
  /** Latency of the development payment provider, in ms (it declines `tok_declined`, approves anything else). */
  PAYMENT_LATENCY_MS: z.coerce.number().int().min(0).default(300),
  /** HMAC-SHA256 secret of `POST /webhooks/payment` (header `x-signature: sha256=<hex>` over the raw body). */
  PAYMENT_WEBHOOK_SECRET: z.string().min(16).default("dev-only-payment-webhook-secret"),
  /** SMTP server for order e-mails (e.g. smtp://user:pass@host:587); empty writes each message as a .eml file to MAIL_DIR. */
  SMTP_URL: z.string().default(""),
  /** Where order e-mails land in development when SMTP_URL is empty (relative to the working directory). */
  MAIL_DIR: z.string().min(1).default(".infra/mail"),
  /** Sender of order e-mails. */
  MAIL_FROM: z.string().min(3).default("FlashGraph <orders@flashgraph.local>"),
  /** There is no user directory yet: a buyer's address is `<user id>@<this domain>`. */
  MAIL_RECIPIENT_DOMAIN: z.string().min(1).default("users.flashgraph.local"),
  /** Product read cache (docs/read-path.md): in-process L1 plus Redis L2. `false` sends every read to PostgreSQL. */
  CACHE_ENABLED: flag(true),
  /** Most products (and, separately, list/search results) one process keeps in its L1. */
  CACHE_L1_MAX: z.coerce.number().int().min(1).default(10_000),
  /** Longest an L1 entry lives; a backstop only, since pub/sub evicts changed products at once. */
  CACHE_L1_TTL_MS: z.coerce.number().int().min(1).default(30_000),
  /** Lifetime of a product in the Redis L2; writes and Kafka events refresh it before then. */
  CACHE_L2_TTL_SECONDS: z.coerce.number().int().min(1).default(300),
  /** Lifetime of list and search results (L1 and L2); a product write makes them unreachable sooner. */
  CACHE_QUERY_TTL_SECONDS: z.coerce.number().int().min(1).default(60),
  /** How long an unknown product id is remembered as missing (L1 and L2), so floods of it stay off PostgreSQL. */
  CACHE_NEGATIVE_TTL_MS: z.coerce.number().int().min(1).default(2_000),
  /** Prefix of the cache's Redis keys and pub/sub channel; empty derives one from the database name. */
  CACHE_KEY_PREFIX: z.string().default(""),
  /** Flash sales (docs/flash-sales.md): purchases per second one sale item accepts (its token bucket's refill rate). */
  FLASH_SALE_RATE: z.coerce.number().int().min(1).default(2_000),
  /** Tokens a sale item's bucket holds at most (a burst above the rate); 0 means one second's worth (FLASH_SALE_RATE). */
  FLASH_SALE_BURST: z.coerce.number().int().min(0).default(0),
  /** flashPurchase requests per second one client IP may send; the rest are refused before they reach Redis. */
  FLASH_IP_RATE: z.coerce.number().int().min(1).default(10),
  /** Burst of the per-IP limit; 0 means one second's worth (FLASH_IP_RATE). */
  FLASH_IP_BURST: z.coerce.number().int().min(0).default(0),
  /** Flash orders the consumer writes to PostgreSQL per statement (seed 002: 100). */
  FLASH_ORDER_BATCH_SIZE: z.coerce.number().int().min(1).max(1_000).default(100),
  /** How long the purchase path gathers FlashOrderPlaced events into one Kafka request, in ms (kafkajs has no linger). */
  FLASH_PUBLISH_LINGER_MS: z.coerce.number().int().min(0).max(100).default(2),
  /** How often the flash-sale process ends sales past endsAt and returns unsold or released units, in ms; 0 turns it off. */
  FLASH_END_INTERVAL_MS: z.coerce.number().int().min(0).default(1_000),
  /** How often the flash-sale process reloads Redis keys of scheduled and active sales that Redis lost, in ms; 0 turns it off. */
  FLASH_WARMUP_INTERVAL_MS: z.coerce.number().int().min(0).default(30_000),
  /** Requests per second one client address may send through the router (default 100; a NAT can hold many users); 0 turns it off. */
  ROUTER_IP_RATE: z.coerce.number().min(0).default(100),
  /** Burst of the router's per-address bucket (default 300); 0 means one second's worth (ROUTER_IP_RATE). */
  ROUTER_IP_BURST: z.coerce.number().int().min(0).default(300),
  /** Requests per second one signed-in user may send through the router, from any address (default 20); 0 turns it off. */
  ROUTER_USER_RATE: z.coerce.number().min(0).default(20),
  /** Burst of the router's per-user bucket (default 60); 0 means one second's worth (ROUTER_USER_RATE). */
  ROUTER_USER_BURST: z.coerce.number().int().min(0).default(60),
  /** Longest the router waits for its rate-limit script in Redis, in ms (default 100); past it, limits fail open. */
  ROUTER_RATE_LIMIT_TIMEOUT_MS: z.coerce.number().int().min(1).default(100),
  /** Client addresses (comma-separated CIDR blocks) the per-IP limits of the router and flash-sale skip (default empty). */
  RATE_LIMIT_EXEMPT: cidrList,
  /** Proxies (comma-separated CIDR blocks) whose X-Forwarded-For the router believes (default empty: none). */
  TRUSTED_PROXIES: cidrList,
  /** Address the router listens on (default 0.0.0.0, every interface). */
  HOST: z.string().min(1).default("0.0.0.0"),
  /** Address the subgraphs listen on (default 127.0.0.1: only the router on this machine reaches them; containers set 0.0.0.0). */
  SUBGRAPH_HOST: z.string().min(1).default("127.0.0.1"),
  /**
   * Most units one user may hold in RESERVED regular orders, summed over items and orders (default 50); the
   * placeOrder that would pass it is PURCHASE_LIMIT_EXCEEDED and reserves nothing (docs/orders.md).
   */
  RESERVATION_MAX_UNITS_PER_USER: z.coerce.number().int().min(1).default(50),
  /** Most lexical tokens in a GraphQL document (default 1 000; the introspection query has ~190). */
  OPERATION_MAX_TOKENS: z.coerce.number().int().min(1).default(1_000),
  /** Deepest field nesting, fragments expanded, not counting inside `__schema`/`__type` (default 10). */
  OPERATION_MAX_DEPTH: z.coerce.number().int().min(1).default(10),
  /** Most aliased fields in a document (default 15). */
  OPERATION_MAX_ALIASES: z.coerce.number().int().min(0).default(15),
  /** Most fields at the root of the operations of a document (default 10). */
  OPERATION_MAX_ROOT_FIELDS: z.coerce.number().int().min(1).default(10),
  /** Most fields in a document, fragments expanded (default 250; the introspection query has ~230). */
  OPERATION_MAX_FIELDS: z.coerce.number().int().min(1).default(250),
  /** Most directives in a document, fragments expanded (default 50). */
  OPERATION_MAX_DIRECTIVES: z.coerce.number().int().min(0).default(50),
  /** Highest estimated cost: fields times list sizes (`first`), entity joins weighted (default 5 000). */
  OPERATION_MAX_COST: z.coerce.number().int().min(1).default(5_000),
  /** Largest `variables` of one operation, as JSON, in bytes (default 65 536). */
  OPERATION_MAX_VARIABLES_BYTES: z.coerce.number().int().min(2).default(65_536),
  /** Largest request body on `/graphql`, router and subgraphs, in bytes (default 1 048 576). */
  OPERATION_MAX_BODY_BYTES: z.coerce.number().int().min(1_024).default(1_048_576),
  /** Largest WebSocket message, router and subgraphs (ws `maxPayload`), in bytes (default 65 536). */
  WS_MAX_MESSAGE_BYTES: z.coerce.number().int().min(1_024).default(65_536),
  /** Required `iss` of client tokens when set (default empty: not checked). */
  JWT_ISSUER: z.string().default(""),
  /** Required `aud` of client tokens when set (default empty: not checked). */
  JWT_AUDIENCE: z.string().default(""),
  /**
   * JSON Web Key Set of an identity provider, an http(s) URL or a file path (default empty: none); RS256 and ES256
   * client tokens are verified against it, HS256 tokens against JWT_SECRET.
   */
  JWT_JWKS: z.string().default(""),
  /** Sockets plus multipart subscription streams open at once from one client address (default 200; a NAT holds many users); 0 turns it off. */
  WS_MAX_SOCKETS_PER_IP: z.coerce.number().int().min(0).default(200),
  /** Sockets plus multipart subscription streams open at once for one user (default 10: a few tabs); 0 turns it off. */
  WS_MAX_SOCKETS_PER_USER: z.coerce.number().int().min(0).default(10),
  /** Active subscriptions of one user across sockets and streams (default 200; 100 per socket as well); 0 turns it off. */
  WS_MAX_SUBSCRIPTIONS_PER_USER: z.coerce.number().int().min(0).default(200),
  /** Active subscriptions from one client address, signed in or not, across sockets and streams (default 2 000); 0 turns it off. */
  WS_MAX_SUBSCRIPTIONS_PER_IP: z.coerce.number().int().min(0).default(2_000),
  /** Unread bytes a subscription socket or stream may hold in the router before it is dropped as a slow reader (default 1 MiB). */
  WS_MAX_BUFFERED_BYTES: z.coerce.number().int().min(1_024).default(1_048_576),
  /** Answer introspection (`__schema`, `__type`) on the router, from the API schema. Default (unset or empty): on unless NODE_ENV=production. */
  INTROSPECTION: z
    .enum(["", "true", "false", "1", "0"])
    .default("")
    .transform((v) => (v === "" ? undefined : v === "true" || v === "1")),
  /**
   * Kafka consumers (docs/failure-modes.md): the first wait, in ms, before an event that failed is handled again
   * (default 100); it doubles with every further failure, with jitter, up to KAFKA_CONSUMER_RETRY_MAX_MS.
   * Infrastructure failures are retried without limit, the partition paused meanwhile.
   */
  KAFKA_CONSUMER_RETRY_INITIAL_MS: z.coerce.number().int().min(1).default(100),
  /** Longest wait between two attempts at a failing event, in ms (default 10 000). */
  KAFKA_CONSUMER_RETRY_MAX_MS: z.coerce.number().int().min(1).default(10_000),
  /** Attempts an event failing with an unclassified error (likely a bug) gets before it is dead-lettered (default 5). */
  KAFKA_CONSUMER_UNKNOWN_ERROR_ATTEMPTS: z.coerce.number().int().min(1).default(5),
  /**
   * How long past reservedUntil a payment in flight (payOrder accepted, provider answer or webhook pending, or a
   * success not yet applied) keeps its RESERVED order from expiring, in seconds (default 600). A success within it
   * confirms the order; after it the order expires and a later success is refunded (docs/orders.md).
   */
  PAYMENT_HOLD_SECONDS: z.coerce.number().int().min(0).max(86_400).default(600),
  /** Longest one payment provider call (charge, refund) may take, in ms (default 10 000); past it the event is retried. */
  PAYMENT_PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /**
   * How long a flash purchase waits for Kafka to acknowledge its FlashOrderPlaced event, in ms (default 5 000).
   * Past it the purchase is taken back unless the order writer already has it (docs/flash-sales.md, Unknown outcomes).
   */
  FLASH_PUBLISH_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** Port of the web storefront's server (`npm start`; default 3000): the built single-page app, from its own origin. */
  WEB_PORT: port(3000),
  /**
   * The router URL the storefront's pages call, over HTTP and (as ws://) WebSocket (default empty:
   * `http://localhost:<PORT>/graphql`). Set it to the router's public URL where the storefront is deployed.
   */
  WEB_GRAPHQL_URL: z.union([z.literal(""), z.string().url()]).default(""),
  /**
   * Seed nodes of a Redis Cluster, comma-separated `host:port` (default empty: one Redis at REDIS_URL). When set,
   * every Redis user (scripts, caches, rate limits, pub/sub) connects to the cluster and REDIS_URL is not used
   * (docs/scale-out.md).
   */
  REDIS_CLUSTER_NODES: z
    .string()
    .default("")
    .superRefine((list, ctx) => {
      const bad = invalidNodes(list);
      if (bad.length > 0) ctx.addIssue({ code: "custom", message: `not host:port: ${bad.join(", ")}` });
    }),
  /**
   * Replicas that must have a reservation's or a flash purchase's write before it is answered, on a Redis Cluster
   * (`WAIT <n> REDIS_WAIT_TIMEOUT_MS` on the node that ran the script; docs/scale-out.md, "A master fails").
   * Default (unset or empty): 1 on a cluster, 0 on one server; 0 turns it off, and is the only value one server takes.
   */
  REDIS_WAIT_REPLICAS: z
    .union([z.literal(""), z.coerce.number().int().min(0).max(5)])
    .default("")
    .transform((v) => (v === "" ? undefined : v)),
  /**
   * Longest a write waits for REDIS_WAIT_REPLICAS, in ms (default 100). Past it the write is answered anyway (it is
   * on its master; the shortfall is counted in `redis_replica_ack_shortfalls_total` and logged).
   */
  REDIS_WAIT_TIMEOUT_MS: z.coerce.number().int().min(1).max(10_000).default(100),
  /**
   * What runs the router's queries and mutations that need several subgraphs (those one subgraph answers alone
   * pass through either way): `executor` (default), the router's own plan executor (router/src/executor/,
   * docs/read-path.md), which answers exactly as the gateway does and leaves to it what it does not run;
   * `gateway`, @apollo/gateway's executeQueryPlan for all of them.
   */
  ROUTER_EXECUTOR: z.enum(["gateway", "executor"]).default("executor"),
  /**
   * Persisted documents (docs/edge-protection.md, Persisted documents): `optional` runs any document and serves the manifest's
   * (schema/persisted-documents.json) and APQ registrations by id; `required` runs only the manifest's documents.
   * Default (unset or empty): `optional`, `required` when NODE_ENV=production.
   */
  PERSISTED_DOCUMENTS: z
    .enum(["", "optional", "required"])
    .default("")
    .transform((v) => (v === "" ? undefined : v)),
});

export type Config = Omit<z.infer<typeof schema>, "REDIS_WAIT_REPLICAS"> & {
  /** REDIS_WAIT_REPLICAS with its default applied: 1 on a cluster, 0 on one server. */
  REDIS_WAIT_REPLICAS: number;
};

/** Parses and validates the environment; throws one message naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid configuration: ${problems}`);
  }
  const refused = productionProblems(parsed.data, env);
  if (refused.length > 0) throw new Error(`Refusing to start with NODE_ENV=production: ${refused.join("; ")}`);
  const nodes = parsed.data.REDIS_CLUSTER_NODES.split(",")
    .map((node) => node.trim())
    .filter(Boolean);
  const waitReplicas = parsed.data.REDIS_WAIT_REPLICAS ?? (nodes.length > 0 ? 1 : 0);
  // WAIT on one server would wait for replicas nothing promotes; a cluster's failover is what it protects against.
  if (nodes.length === 0 && waitReplicas > 0)
    throw new Error("Invalid configuration: REDIS_WAIT_REPLICAS: must be 0 without REDIS_CLUSTER_NODES (WAIT is for a Redis Cluster)");
  // One address for every factory (common/redis.ts): the services pass REDIS_URL on and need not know which it is.
  if (nodes.length > 0) parsed.data.REDIS_URL = clusterAddress(nodes);
  return { ...parsed.data, REDIS_WAIT_REPLICAS: waitReplicas };
}
