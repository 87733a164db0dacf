import { CompressionTypes, type Message, type Producer } from "kafkajs";
import type { EventEnvelope, TopicEvents, TopicName } from "../events.ts";
import type { KafkaContext } from "./client.ts";

/** A Kafka message for an event: keyed by aggregate id, with its type and id as headers; `value` is its JSON. */
export function eventMessage(event: Pick<EventEnvelope, "id" | "type" | "aggregateId">, value: string): Message {
  return { key: event.aggregateId, value, headers: { "event-type": event.type, "event-id": event.id } };
}

export function toMessage(event: EventEnvelope): Message {
  return eventMessage(event, JSON.stringify(event));
}

/** Publishes typed events, grouped by topic, in one request (kafkajs has no linger: batch here). */
export async function publish<T extends TopicName>(ctx: KafkaContext, producer: Producer, topic: T, events: TopicEvents[T][]): Promise<void> {
  if (events.length === 0) return;
  await producer.send({ topic: ctx.topic(topic), acks: -1, compression: CompressionTypes.None, messages: events.map(toMessage) });
}
