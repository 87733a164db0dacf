import { readFileSync } from "node:fs";
import { loadConfig } from "../../common/config.ts";
import { createLogger } from "../../common/logger.ts";
import { createLifecycle } from "../../common/runtime.ts";
import { SUBGRAPHS, SUPERGRAPH_FILE } from "../../schema/compose.ts";
import { createRouter } from "./server.ts";
import { operationLimitsFrom } from "../../common/operation-limits-config.ts";
import { parseOrigins } from "./cors.ts";
import { createRateLimitRedis } from "./rate-limit.ts";
import { parseCidrList } from "../../common/client-address.ts";
import { parseManifest, PERSISTED_DOCUMENTS_FILE } from "../../schema/persisted-documents.ts";

const config = loadConfig();
const logger = createLogger("router", config.LOG_LEVEL);
const lifecycle = createLifecycle(logger);

await lifecycle.run(async () => {
  const redis = lifecycle.add("redis", createRateLimitRedis(config.REDIS_URL, config.ROUTER_RATE_LIMIT_TIMEOUT_MS, logger), (r) => r.quit());
  const router = await createRouter({
    supergraphSdl: readFileSync(SUPERGRAPH_FILE, "utf8"),
    subgraphUrls: Object.fromEntries(SUBGRAPHS.map((s) => [s.name, config[s.urlEnv]])),
    jwtSecret: config.JWT_SECRET,
    internalSecret: config.INTERNAL_SECRET,
    subgraphTimeoutMs: config.SUBGRAPH_TIMEOUT_MS,
    executor: config.ROUTER_EXECUTOR,
    subgraphBatching: ["all", "none"].includes(config.SUBGRAPH_BATCHING)
      ? (config.SUBGRAPH_BATCHING as "all" | "none")
      : config.SUBGRAPH_BATCHING.split(",")
          .map((name) => name.trim())
          .filter(Boolean),
    development: config.NODE_ENV !== "production",
    introspection: config.INTROSPECTION,
    allowedOrigins: parseOrigins(config.CORS_ORIGINS),
    trustedProxies: parseCidrList(config.TRUSTED_PROXIES),
    rateLimit: {
      redis,
      ipRate: config.ROUTER_IP_RATE,
      ipBurst: config.ROUTER_IP_BURST,
      userRate: config.ROUTER_USER_RATE,
      userBurst: config.ROUTER_USER_BURST,
      exempt: parseCidrList(config.RATE_LIMIT_EXEMPT),
    },
    clientTokens: {
      issuer: config.JWT_ISSUER || undefined,
      audience: config.JWT_AUDIENCE || undefined,
      jwks: config.JWT_JWKS || undefined,
    },
    subscriptionLimits: {
      maxSocketsPerIp: config.WS_MAX_SOCKETS_PER_IP,
      maxSocketsPerUser: config.WS_MAX_SOCKETS_PER_USER,
      maxSubscriptionsPerUser: config.WS_MAX_SUBSCRIPTIONS_PER_USER,
      maxSubscriptionsPerIp: config.WS_MAX_SUBSCRIPTIONS_PER_IP,
      maxBufferedBytes: config.WS_MAX_BUFFERED_BYTES,
    },
    maxMessageBytes: config.WS_MAX_MESSAGE_BYTES,
    operationLimits: operationLimitsFrom(config),
    maxBodyBytes: config.OPERATION_MAX_BODY_BYTES,
    persistedDocuments: {
      mode: config.PERSISTED_DOCUMENTS ?? (config.NODE_ENV === "production" ? "required" : "optional"),
      manifest: parseManifest(readFileSync(PERSISTED_DOCUMENTS_FILE, "utf8")),
    },
    logger,
  });
  lifecycle.add("http", router, (r) => r.close());
  const port = await router.listen(config.PORT, config.HOST);
  logger.info({ port, url: `http://localhost:${port}/graphql` }, "router listening");
});
