import { spawnSync } from "node:child_process";
import { expect, test } from "@jest/globals";
import { parse } from "yaml";
import { ROOT } from "../scripts/env.ts";
import { SUBGRAPHS } from "../schema/compose.ts";
import { SERVICE_NAMES } from "../scripts/services.ts";
import { defaultLayout } from "../scripts/cluster-stack.ts";

// docker-compose.yml cannot be brought up here (no Docker daemon, no image registry), so what can be checked without
// one is checked: Compose itself (Debian's docker-compose, installed by `scripts/infra.sh deps`) must accept the file
// in both profiles, and the resolved `cluster` profile must have the shape `npm run start:cluster` has.

interface Service {
  profiles?: string[];
  environment?: Record<string, string | number | null>;
  ports?: (string | { published: number | string; target: number })[];
  volumes?: (string | { source: string; target: string })[];
}

function composeConfig(...args: string[]): { services: Record<string, Service> } {
  const result = spawnSync("docker-compose", [...args, "config"], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, COMPOSE_PROJECT_NAME: "flashgraph" },
  });
  if (result.error) throw new Error(`docker-compose could not run (${result.error.message}); \`bash scripts/infra.sh deps\` installs it`);
  if (result.status !== 0) throw new Error(`docker-compose ${args.join(" ")} config refused the file:\n${result.stderr}`);
  return parse(result.stdout) as { services: Record<string, Service> };
}

const list = (value: unknown) =>
  String(value ?? "")
    .split(",")
    .filter(Boolean);

test("Compose accepts docker-compose.yml with and without the cluster profile", () => {
  expect(Object.keys(composeConfig().services)).toEqual(expect.arrayContaining(["postgres", "redis", "kafka", ...SERVICE_NAMES]));
  expect(Object.keys(composeConfig("--profile", "cluster").services)).toEqual(expect.arrayContaining(["haproxy", "redis-cluster-init"]));
});

test("the cluster profile: 6 Redis nodes, 3 brokers, 2 instances of every service, all wired through HAProxy", () => {
  const { services } = composeConfig("--profile", "cluster");
  const redisNodes = Object.keys(services).filter((name) => /^redis-c\d$/.test(name));
  const brokers = Object.keys(services).filter((name) => /^kafka-\d$/.test(name));
  expect(redisNodes).toHaveLength(6);
  expect(brokers).toHaveLength(3);
  expect(
    brokers
      .map((name) => services[name]!.environment!.KAFKA_NODE_ID)
      .map(Number)
      .sort(),
  ).toEqual([1, 2, 3]);
  for (const name of brokers) expect(services[name]!.environment!.KAFKA_ADVERTISED_LISTENERS).toBe(`PLAINTEXT://${name}:9092`);

  const front = defaultLayout(2).front;
  for (const service of SERVICE_NAMES) {
    for (const instance of [`${service}-1`, `${service}-2`]) {
      const definition = services[instance];
      expect(definition?.profiles).toEqual(["cluster"]);
      const env = definition!.environment!;
      expect(
        list(env.REDIS_CLUSTER_NODES)
          .map((node) => node.split(":")[0])
          .sort(),
      ).toEqual(redisNodes.sort());
      expect(
        list(env.KAFKA_BROKERS)
          .map((node) => node.split(":")[0])
          .sort(),
      ).toEqual(brokers.sort());
      // Every instance reaches every subgraph through HAProxy's frontend of that subgraph, which balances over both.
      for (const { name, urlEnv } of SUBGRAPHS) expect([urlEnv, env[urlEnv]]).toEqual([urlEnv, `http://haproxy:${front.subgraphs[name]}/graphql`]);
    }
  }
  const haproxy = services.haproxy!;
  const published = (haproxy.ports ?? []).map((p) => (typeof p === "string" ? p : `${p.published}:${p.target}`));
  expect(published.some((p) => p.endsWith(`${front.router}:${front.router}`))).toBe(true);
  const mounts = (haproxy.volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}`));
  expect(mounts.some((m) => m.includes("docker/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg"))).toBe(true);
});
