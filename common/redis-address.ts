// The address a Redis factory (common/redis.ts) takes: a `redis://` URL for one server, or the seed nodes of a
// Redis Cluster as `redis-cluster://host:port,host:port`. config.ts turns REDIS_CLUSTER_NODES into the latter and
// puts it in REDIS_URL, so every service that connects through REDIS_URL reaches the cluster without a second path.

export const CLUSTER_SCHEME = "redis-cluster://";

export const clusterAddress = (nodes: readonly string[]) => `${CLUSTER_SCHEME}${nodes.join(",")}`;

/** `host:port` entries of a comma-separated list that are not one (empty list: none). */
export function invalidNodes(list: string): string[] {
  return list
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "" && !/^[^\s:,]+:\d{1,5}$/.test(entry));
}

/** The seed nodes of a cluster address, or null for a single-server URL. */
export function clusterNodesOf(address: string): { host: string; port: number }[] | null {
  if (!address.startsWith(CLUSTER_SCHEME)) return null;
  return address
    .slice(CLUSTER_SCHEME.length)
    .split(",")
    .filter(Boolean)
    .map((node) => {
      const at = node.lastIndexOf(":");
      return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
    });
}
