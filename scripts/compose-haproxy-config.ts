import { writeFileSync } from "node:fs";
import { haproxyConfig } from "./haproxy.ts";
import { COMPOSE_HAPROXY_CONFIG, composeHaproxySpec } from "./cluster-stack.ts";

// `npx tsx scripts/compose-haproxy-config.ts`: rewrites docker/haproxy.cfg, the HAProxy of docker-compose.yml's
// `cluster` profile, from the template `npm run start:cluster` uses (a unit test fails when it is stale).
writeFileSync(COMPOSE_HAPROXY_CONFIG, haproxyConfig(composeHaproxySpec()));
console.log(`wrote ${COMPOSE_HAPROXY_CONFIG}`);
