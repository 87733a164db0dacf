import { Counter, Gauge, type Metric } from "prom-client";

// The consumers' health, per consumer group and topic. Created once per process (like the process's other
// metrics) and registered by `createMetrics` (common/metrics.ts) into the registry `/metrics` serves.

/** Every wait before handling an event again, by why it failed (`transient` or `unknown`). */
export const consumerRetries = new Counter({
  name: "kafka_consumer_retries_total",
  help: "Events a Kafka consumer will handle again after a failure (the partition waits in backoff meanwhile).",
  labelNames: ["group", "topic", "kind"],
  registers: [],
});

/** Partitions waiting out a backoff right now; one stuck for long is an outage the consumer is riding out. */
export const consumerPausedPartitions = new Gauge({
  name: "kafka_consumer_paused_partitions",
  help: "Partitions a Kafka consumer has paused while it waits to retry a failed event.",
  labelNames: ["group", "topic"],
  registers: [],
});

/** Events sent to `<topic>.dlq`, by why (`malformed`, `permanent`, `unknown` after its attempts). */
export const consumerDeadLetters = new Counter({
  name: "kafka_consumer_dead_letters_total",
  help: "Events a Kafka consumer sent to the dead-letter topic.",
  labelNames: ["group", "topic", "kind"],
  registers: [],
});

export const consumerMetrics: Metric[] = [consumerRetries, consumerPausedPartitions, consumerDeadLetters];
