import { loadConfig } from "../config.ts";
import { clusterNodesOf } from "../redis-address.ts";

test("REDIS_CLUSTER_NODES turns REDIS_URL into the cluster's address, which the Redis factories read back", () => {
  expect(loadConfig({}).REDIS_URL).toBe("redis://127.0.0.1:6379");
  const config = loadConfig({ REDIS_CLUSTER_NODES: "127.0.0.1:7000, redis-b:7001,", REDIS_URL: "redis://ignored:6379" });
  expect(config.REDIS_URL).toBe("redis-cluster://127.0.0.1:7000,redis-b:7001");
  expect(clusterNodesOf(config.REDIS_URL)).toEqual([
    { host: "127.0.0.1", port: 7000 },
    { host: "redis-b", port: 7001 },
  ]);
  expect(clusterNodesOf("redis://127.0.0.1:6379/3")).toBeNull();
});

test("a node that is not host:port stops the process with a message naming the variable", () => {
  expect(() => loadConfig({ REDIS_CLUSTER_NODES: "127.0.0.1:7000,redis-b" })).toThrow(/REDIS_CLUSTER_NODES: not host:port: redis-b/);
});

test("REDIS_WAIT_REPLICAS is 1 on a cluster and 0 on one server unless set; one server refuses anything but 0", () => {
  const cluster = { REDIS_CLUSTER_NODES: "127.0.0.1:7000" };
  expect(loadConfig({}).REDIS_WAIT_REPLICAS).toBe(0);
  expect(loadConfig(cluster).REDIS_WAIT_REPLICAS).toBe(1);
  expect(loadConfig({ ...cluster, REDIS_WAIT_REPLICAS: "0" }).REDIS_WAIT_REPLICAS).toBe(0);
  expect(loadConfig({ ...cluster, REDIS_WAIT_REPLICAS: "2", REDIS_WAIT_TIMEOUT_MS: "50" })).toMatchObject({
    REDIS_WAIT_REPLICAS: 2,
    REDIS_WAIT_TIMEOUT_MS: 50,
  });
  expect(loadConfig({ REDIS_WAIT_REPLICAS: "0" }).REDIS_WAIT_REPLICAS).toBe(0);
  expect(() => loadConfig({ REDIS_WAIT_REPLICAS: "1" })).toThrow(/REDIS_WAIT_REPLICAS: must be 0 without REDIS_CLUSTER_NODES/);
  expect(() => loadConfig({ ...cluster, REDIS_WAIT_REPLICAS: "-1" })).toThrow(/REDIS_WAIT_REPLICAS/);
});
