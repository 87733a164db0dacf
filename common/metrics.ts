import { Registry, collectDefaultMetrics, Counter, Histogram } from "prom-client";
import type { ApolloServerPlugin } from "@apollo/server";
import { consumerMetrics } from "./kafka/metrics.ts";
import { replicaAckShortfalls } from "./replicated-scripts.ts";

/** One registry per process, exposed at `GET /metrics`. */
export function createMetrics(service: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  for (const metric of consumerMetrics) registry.registerMetric(metric);
  registry.registerMetric(replicaAckShortfalls);
  const operations = new Counter({
    name: "graphql_operations_total",
    help: "GraphQL operations by name and outcome (ok, or the first error code).",
    labelNames: ["operation", "outcome"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "graphql_operation_duration_seconds",
    help: "Time from request start to response, by operation name.",
    labelNames: ["operation"],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  /** One answered operation: its outcome is "ok" or the first error code. */
  const record = (operation: string, outcome: string, seconds: number) => {
    operations.inc({ operation, outcome });
    duration.observe({ operation }, seconds);
  };

  const plugin: ApolloServerPlugin = {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse({ operationName, errors }) {
          const code = errors?.[0]?.extensions?.code;
          record(operationName ?? "anonymous", errors?.length ? String(code ?? "ERROR") : "ok", Number(process.hrtime.bigint() - started) / 1e9);
        },
      };
    },
  };
  return { registry, plugin, record };
}

export type Metrics = ReturnType<typeof createMetrics>;
