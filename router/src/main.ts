import { readFileSync } from "node:fs";
import { loadConfig } from "../../common/config.ts";
import { createLogger } from "../../common/logger.ts";
import { createLifecycle } from "../../common/runtime.ts";
import { SUBGRAPHS, SUPERGRAPH_FILE } from "../../schema/compose.ts";
import { createRouter } from "./server.ts";

const config = loadConfig();
const logger = createLogger("router", config.LOG_LEVEL);
const lifecycle = createLifecycle(logger);

await lifecycle.run(async () => {
  const router = await createRouter({
    supergraphSdl: readFileSync(SUPERGRAPH_FILE, "utf8"),
    subgraphUrls: Object.fromEntries(SUBGRAPHS.map((s) => [s.name, config[s.urlEnv]])),
    jwtSecret: config.JWT_SECRET,
    internalSecret: config.INTERNAL_SECRET,
    subgraphTimeoutMs: config.SUBGRAPH_TIMEOUT_MS,
    subgraphBatching: ["all", "none"].includes(config.SUBGRAPH_BATCHING)
      ? (config.SUBGRAPH_BATCHING as "all" | "none")
      : config.SUBGRAPH_BATCHING.split(",")
          .map((name) => name.trim())
          .filter(Boolean),
    development: config.NODE_ENV !== "production",
    allowedOrigins: config.CORS_ORIGINS.split(",")
      .map((o) => o.trim())
      .filter(Boolean),
    logger,
  });
  lifecycle.add("http", router, (r) => r.close());
  const port = await router.listen(config.PORT);
  logger.info({ port, url: `http://localhost:${port}/graphql` }, "router listening");
});
