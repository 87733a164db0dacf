import { readFileSync } from "node:fs";
import { expect, test } from "@jest/globals";
import { haproxyConfig } from "../scripts/haproxy.ts";
import { clusterHaproxySpec, COMPOSE_HAPROXY_CONFIG, composeHaproxySpec, defaultLayout } from "../scripts/cluster-stack.ts";

// docker-compose.yml's `cluster` profile mounts docker/haproxy.cfg; `npm run start:cluster` writes its own from the
// same template. They must not drift apart.
test("docker/haproxy.cfg is what the template makes (regenerate: npx tsx scripts/compose-haproxy-config.ts)", () => {
  expect(readFileSync(COMPOSE_HAPROXY_CONFIG, "utf8")).toBe(haproxyConfig(composeHaproxySpec()));
});

test("the routers' and each subgraph's frontend balance over every instance, with long-lived connections allowed", () => {
  const config = haproxyConfig(clusterHaproxySpec(defaultLayout(2)));
  expect(config).toMatch(/frontend router-in\n {2}bind 0\.0\.0\.0:4000\n/);
  expect(config).toMatch(/server router-1 127\.0\.0\.1:4100\n {2}server router-2 127\.0\.0\.1:4200\n/);
  expect(config).toMatch(/frontend flash-sale-in\n {2}bind 127\.0\.0\.1:4004\n/);
  expect(config).toMatch(/server flash-sale-1 127\.0\.0\.1:4104\n {2}server flash-sale-2 127\.0\.0\.1:4204\n/);
  // WebSockets are tunnels after the upgrade; multipart subscriptions are responses idle between events.
  expect(config).toContain("timeout tunnel 1h");
  expect(config).toContain("timeout server 10m");
  expect(config).toContain("http-check send meth GET uri /health");
});
