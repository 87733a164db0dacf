import type { KafkaContext } from "../../../common/kafka/client.ts";

/**
 * A consumer group's name carries the topic prefix, like the topics it reads. kafkajs hands a group's
 * partitions to its members whatever each one subscribed to, so a test run (`test.` topics) and a development
 * platform on the same broker must never share a group, or one would consume the other's events.
 */
export const groupName = (ctx: KafkaContext, name: string) => ctx.topic(name);
