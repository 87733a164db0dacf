import { readFileSync } from "node:fs";
import type { Agent } from "undici";
import { Histogram } from "prom-client";
import { createPassthrough } from "../router/src/passthrough.ts";
import { createSubscriptionPlanner } from "../router/src/subscriptions/planner.ts";
import { createSubgraphSender } from "../router/src/subgraph-batch.ts";
import { createMetrics } from "../common/metrics.ts";
import { SUPERGRAPH_FILE } from "../schema/compose.ts";
import { logger } from "./harness.ts";

/** A pass-through on its own, for anonymous callers, against the given subgraph URLs. */
export const passthroughFor = (subgraphUrls: Record<string, string>, dispatcher: Agent, timeoutMs: number) =>
  createPassthrough({
    planner: createSubscriptionPlanner(readFileSync(SUPERGRAPH_FILE, "utf8")),
    subgraphUrls,
    identityOf: async () => ({ user: null }),
    sign: () => "",
    send: createSubgraphSender({
      dispatcher,
      timeoutMs,
      batches: () => true,
      batchSize: new Histogram({ name: "test_batch_size", help: "-", labelNames: ["subgraph"], registers: [] }),
    }),
    metrics: createMetrics("test"),
    logger,
  });
