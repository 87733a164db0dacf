import { expect, jest, test } from "@jest/globals";
import type { Consumer } from "kafkajs";
import { createLogger } from "../logger.ts";
import { createPartitionRetry } from "../kafka/partition-retry.ts";

// kafkajs's pause and resume throw "Consumer group was not initialized" while the consumer has no group session:
// between a crash (a broker gone) and kafkajs's restart of it. The backoff's resume runs from a timer, where the
// error would end the process; the session it paused is gone anyway, and the next one fetches the partition again.

const log = createLogger("test", "silent");
const policy = { initialMs: 100, maxMs: 100, unknownAttempts: 5 };

function fakeConsumer() {
  let session = true;
  const calls: string[] = [];
  const act = (what: string) => (tps: { topic: string; partitions?: number[] }[]) => {
    if (!session)
      throw Object.assign(new Error("Consumer group was not initialized, consumer#run must be called first"), { name: "KafkaJSNonRetriableError" });
    calls.push(`${what} ${tps[0]!.topic}/${tps[0]!.partitions!.join(",")}`);
  };
  const consumer = { pause: act("pause"), resume: act("resume") } as unknown as Consumer;
  return { consumer, calls, crash: () => void (session = false), restart: () => void (session = true) };
}

test("a backoff pauses the partition and resumes it once over", () => {
  jest.useFakeTimers();
  try {
    const fake = fakeConsumer();
    const retry = createPartitionRetry({ consumer: fake.consumer, group: "g", policy, log, random: () => 1 });
    expect(retry.backOff("t", 2, "10", "transient", new Error("down"))).toBe(100);
    expect(fake.calls).toEqual(["pause t/2"]);
    jest.advanceTimersByTime(100);
    expect(fake.calls).toEqual(["pause t/2", "resume t/2"]);
  } finally {
    jest.useRealTimers();
  }
});

test("a resume due while kafkajs restarts the crashed consumer neither throws nor stops later backoffs", () => {
  jest.useFakeTimers();
  try {
    const fake = fakeConsumer();
    const retry = createPartitionRetry({ consumer: fake.consumer, group: "g", policy, log, random: () => 1 });
    retry.backOff("t", 0, "5", "transient", new Error("down"));
    fake.crash();
    expect(() => jest.advanceTimersByTime(100)).not.toThrow();
    // A failure while there is no session: nothing to pause, and the handler's answer (wait) stands.
    expect(() => retry.backOff("t", 1, "7", "transient", new Error("down"))).not.toThrow();
    fake.restart();
    jest.advanceTimersByTime(100);
    retry.backOff("t", 0, "5", "transient", new Error("down again"));
    jest.advanceTimersByTime(100);
    expect(fake.calls).toEqual(["pause t/0", "resume t/1", "pause t/0", "resume t/0"]);
  } finally {
    jest.useRealTimers();
  }
});
