import type { IHeaders, KafkaMessage, Message, Producer } from "kafkajs";
import { dlqTopic } from "../events.ts";
import type { FailureKind } from "./retry.ts";
import { consumerDeadLetters } from "./metrics.ts";

/**
 * A dead letter is the original message (key, value and headers untouched) plus these headers, so it can be
 * read (`npm run dlq -- list`) and sent back where it came from (`npm run dlq -- replay`).
 */
export const DLQ_HEADER = {
  topic: "dlq-topic",
  partition: "dlq-partition",
  offset: "dlq-offset",
  /** `malformed` (not an event), `permanent` or `unknown` (classifyFailure, common/kafka/retry.ts). */
  kind: "dlq-kind",
  error: "dlq-error",
  attempts: "dlq-attempts",
  group: "dlq-group",
  time: "dlq-time",
  /** Kind and error in one line, as the first letters had it ("malformed JSON", "permanent: ...", "failed 5 times: ..."). */
  reason: "dlq-reason",
} as const;

export type DeadLetterKind = Exclude<FailureKind, "transient"> | "malformed";

export interface DeadLetterSource {
  /** The full topic name (with KAFKA_TOPIC_PREFIX). */
  topic: string;
  partition: number;
  message: KafkaMessage;
}

export interface DeadLetterCause {
  kind: DeadLetterKind;
  /** What went wrong: the error's text, or why the message is not an event. */
  error: string;
  attempts: number;
}

/** The original headers without an earlier failure's dlq-* headers (a replayed letter that failed again). */
export function originalHeaders(headers: IHeaders | undefined): IHeaders {
  return Object.fromEntries(Object.entries(headers ?? {}).filter(([name, value]) => !name.startsWith("dlq-") && value !== undefined));
}

const reasonOf = ({ kind, error, attempts }: DeadLetterCause) =>
  kind === "malformed" ? error : `${kind === "permanent" ? "permanent" : `failed ${attempts} times`}: ${error}`;

export function deadLetterMessage(source: DeadLetterSource, cause: DeadLetterCause, group: string, now = new Date()): Message {
  const { message } = source;
  return {
    key: message.key,
    value: message.value,
    headers: {
      ...originalHeaders(message.headers),
      [DLQ_HEADER.topic]: source.topic,
      [DLQ_HEADER.partition]: String(source.partition),
      [DLQ_HEADER.offset]: message.offset,
      [DLQ_HEADER.kind]: cause.kind,
      [DLQ_HEADER.error]: cause.error.slice(0, 1_000),
      [DLQ_HEADER.attempts]: String(cause.attempts),
      [DLQ_HEADER.group]: group,
      [DLQ_HEADER.time]: now.toISOString(),
      [DLQ_HEADER.reason]: reasonOf(cause).slice(0, 500),
    },
  };
}

/** Sends one message to `<topic>.dlq` and waits for every replica (it is the only copy that will be kept). */
export async function sendDeadLetter(producer: Producer, source: DeadLetterSource, cause: DeadLetterCause, group: string): Promise<void> {
  await producer.send({ topic: dlqTopic(source.topic), acks: -1, messages: [deadLetterMessage(source, cause, group)] });
  consumerDeadLetters.inc({ group, topic: source.topic, kind: cause.kind });
}

/** A dead letter as `npm run dlq` shows it. */
export interface DeadLetter {
  /** Where the letter itself is. */
  offset: string;
  partition: number;
  source: { topic: string; partition: number; offset: string };
  key: string | null;
  eventType: string | null;
  eventId: string | null;
  kind: string;
  error: string;
  attempts: number;
  group: string;
  time: string;
}

const text = (value: IHeaders[string]): string | null => {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? null : first.toString();
};

/** Reads a letter's headers; the event type and id come from the original message's headers or its JSON. */
export function readDeadLetter(dlqPartition: number, message: KafkaMessage, dlq: string): DeadLetter {
  const headers = message.headers ?? {};
  const header = (name: string) => text(headers[name]);
  let eventType = header("event-type");
  let eventId = header("event-id");
  if (eventType === null || eventId === null) {
    try {
      const event = JSON.parse(message.value?.toString("utf8") ?? "") as { type?: unknown; id?: unknown };
      if (typeof event.type === "string") eventType ??= event.type;
      if (typeof event.id === "string") eventId ??= event.id;
    } catch {
      // not JSON: the letter is malformed, and says so in its kind
    }
  }
  return {
    offset: message.offset,
    partition: dlqPartition,
    source: {
      topic: header(DLQ_HEADER.topic) ?? dlq.replace(/\.dlq$/, ""),
      partition: Number(header(DLQ_HEADER.partition) ?? -1),
      offset: header(DLQ_HEADER.offset) ?? "",
    },
    key: message.key?.toString("utf8") ?? null,
    eventType,
    eventId,
    kind: header(DLQ_HEADER.kind) ?? "",
    error: header(DLQ_HEADER.error) ?? header(DLQ_HEADER.reason) ?? "",
    attempts: Number(header(DLQ_HEADER.attempts) ?? 0),
    group: header(DLQ_HEADER.group) ?? "",
    time: header(DLQ_HEADER.time) ?? new Date(Number(message.timestamp)).toISOString(),
  };
}
