import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../../common/config.ts";
import { createLogger } from "../../common/logger.ts";
import { createLifecycle } from "../../common/runtime.ts";
import { createStorefrontServer } from "./server.ts";

// The storefront's server (scripts/services.ts starts it after the router): serves web/dist, which
// `npm start` builds first (web/build.ts).
const config = loadConfig();
const logger = createLogger("web", config.LOG_LEVEL);
const lifecycle = createLifecycle(logger);
const distDir = fileURLToPath(new URL("../dist/", import.meta.url));

await lifecycle.run(async () => {
  if (!existsSync(`${distDir}index.html`)) throw new Error(`${distDir}index.html is missing: build the storefront first (npm run build:web)`);
  const graphqlUrl = config.WEB_GRAPHQL_URL || `http://localhost:${config.PORT}/graphql`;
  const server = createStorefrontServer({
    distDir,
    graphqlUrl,
    // Never in production: anyone could sign in as anyone.
    devTokenSecret: config.NODE_ENV === "production" ? undefined : config.JWT_SECRET,
  });
  lifecycle.add("http", server, (s) => new Promise((resolve) => s.close(resolve)));
  await new Promise<void>((resolve) => server.listen(config.WEB_PORT, config.HOST, resolve));
  logger.info({ port: config.WEB_PORT, graphqlUrl }, "storefront listening");
});
