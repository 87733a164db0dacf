import type { Consumer } from "kafkajs";
import type { Logger } from "../logger.ts";
import { backoffDelay, type FailureKind, type RetryPolicy } from "./retry.ts";
import { consumerPausedPartitions, consumerRetries } from "./metrics.ts";

interface Failing {
  /** The offset of the event that failed: the partition's next fetch starts there again. */
  offset: string;
  failures: number;
  unknownFailures: number;
  resume?: NodeJS.Timeout;
}

/**
 * Backoff per partition, without holding the consumer. The handler that failed leaves the event's offset
 * unresolved and returns; this pauses the partition (kafkajs `pause`: its fetches leave it out) and resumes it when
 * the backoff is over, and kafkajs fetches it again from the first unresolved offset. So:
 * - the other partitions keep flowing (a kafkajs fetcher waits for every batch of a fetch before fetching again,
 *   so a handler sleeping in its batch would hold them all);
 * - nothing sleeps inside `eachBatch`, the runner keeps heartbeating, and the group never rebalances because of
 *   a long outage;
 * - `close()` only has to cancel the timers: the failed offset was never resolved, so it is not committed and the
 *   next member of the group gets the event again.
 */
export function createPartitionRetry(options: { consumer: Consumer; group: string; policy: RetryPolicy; log: Logger; random?: () => number }) {
  const { consumer, group, policy, log } = options;
  const failing = new Map<string, Failing>();
  const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;

  const updateGauge = (topic: string) => {
    let paused = 0;
    for (const [key, entry] of failing) if (entry.resume && key.startsWith(`${topic}\u0000`)) paused++;
    consumerPausedPartitions.set({ group, topic }, paused);
  };

  /**
   * kafkajs's pause and resume act on the consumer's current group session, and throw while it has none: between
   * a crash and kafkajs's restart of the consumer (a broker gone), or once it stopped. That session is gone with
   * whatever it had paused, and the next one fetches the partition again from its committed offset, before the
   * failed event: nothing is left to resume. Thrown from the resume timer, the error would end the process.
   */
  const setPaused = (topic: string, partition: number, paused: boolean) => {
    try {
      if (paused) consumer.pause([{ topic, partitions: [partition] }]);
      else consumer.resume([{ topic, partitions: [partition] }]);
    } catch (error) {
      log.info(
        { err: error, topic, partition },
        paused ? "could not pause the partition: the consumer is restarting" : "nothing to resume: the consumer restarted",
      );
    }
  };

  const entryFor = (topic: string, partition: number, offset: string): Failing => {
    const key = keyOf(topic, partition);
    let entry = failing.get(key);
    if (!entry || entry.offset !== offset) {
      if (entry?.resume) clearTimeout(entry.resume);
      entry = { offset, failures: 0, unknownFailures: 0 };
      failing.set(key, entry);
    }
    return entry;
  };

  return {
    /** How often the event at `offset` has failed with an unclassified error so far. */
    unknownFailures(topic: string, partition: number, offset: string): number {
      const entry = failing.get(keyOf(topic, partition));
      return entry?.offset === offset ? entry.unknownFailures : 0;
    },

    /** Pauses the partition after a failure of the event at `offset`; returns the backoff in ms. */
    backOff(topic: string, partition: number, offset: string, kind: Exclude<FailureKind, "permanent">, error: unknown): number {
      const entry = entryFor(topic, partition, offset);
      entry.failures++;
      if (kind === "unknown") entry.unknownFailures++;
      const delayMs = backoffDelay(policy, entry.failures, options.random);
      const level = entry.failures === 1 || kind === "unknown" ? "warn" : "info";
      log[level]({ err: error, topic, partition, offset, kind, failures: entry.failures, delayMs }, "event failed; partition paused until the retry");
      consumerRetries.inc({ group, topic, kind });
      setPaused(topic, partition, true);
      if (entry.resume) clearTimeout(entry.resume);
      entry.resume = setTimeout(() => {
        entry.resume = undefined;
        setPaused(topic, partition, false);
        updateGauge(topic);
      }, delayMs);
      updateGauge(topic);
      return delayMs;
    },

    /** The partition's failing event was handled or dead-lettered: its count starts over. */
    settled(topic: string, partition: number): void {
      const key = keyOf(topic, partition);
      const entry = failing.get(key);
      if (!entry) return;
      if (entry.failures > 0) log.info({ topic, partition, offset: entry.offset, failures: entry.failures }, "event settled after retries");
      failing.delete(key);
    },

    /** Cancels every pending resume (the consumer is closing: nothing is fetched again). */
    close(): void {
      const topics = new Set<string>();
      for (const [key, entry] of failing) {
        if (entry.resume) clearTimeout(entry.resume);
        topics.add(key.split("\u0000")[0]!);
      }
      failing.clear();
      for (const topic of topics) updateGauge(topic);
    },
  };
}

export type PartitionRetry = ReturnType<typeof createPartitionRetry>;
