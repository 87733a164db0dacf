import { randomUUID } from "node:crypto";
import type { KafkaContext } from "../../../common/kafka/client.ts";
import { eventually } from "../../../test/eventually.ts";
import type { Stack } from "../../../test/harness.ts";
import { line, ORDER, orderInput, PLACE_ORDER, type TestProduct } from "../../../test/orders.ts";

export interface RawMessage {
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

/**
 * Like the harness's `watchTopic`, but keeps messages raw (a dead-letter topic holds things that are not
 * JSON): every partition is read from its current end, so history is skipped and nothing new is missed.
 */
export async function watchRaw(kafka: KafkaContext, topic: string) {
  const name = kafka.topic(topic);
  const admin = kafka.kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(name);
  await admin.disconnect();
  const messages: RawMessage[] = [];
  const consumer = kafka.kafka.consumer({ groupId: `test-watch-raw-${randomUUID()}`, allowAutoTopicCreation: false });
  await consumer.connect();
  await consumer.subscribe({ topic: name, fromBeginning: false });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ message }) =>
      void messages.push({
        key: message.key?.toString() ?? null,
        value: message.value?.toString() ?? "",
        headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
      }),
  });
  for (const { partition, offset } of offsets) consumer.seek({ topic: name, partition, offset });
  await joined;
  return {
    messages,
    waitFor: (predicate: (m: RawMessage) => boolean, timeoutMs = 20_000) =>
      eventually(async () => messages.find(predicate), timeoutMs, `a message on ${name}`),
    close: () => consumer.disconnect(),
  };
}

/** Places an order of `quantity` units of `product` for `user` through the router; throws on errors. */
export async function placeOrderOf(stack: Stack, user: string, product: TestProduct, quantity: number) {
  const res = await stack.gql(PLACE_ORDER, { input: orderInput([line(product, quantity)]) }, { token: user });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.placeOrder as { id: string; status: string };
}

/** The order as its owner reads it through the router. */
export const orderOf = async (stack: Stack, id: string, user: string) => (await stack.gql(ORDER, { id }, { token: user })).data?.order;

/** The order once it has `status`, as its owner reads it (fails after 30 s). */
export const orderUntil = (stack: Stack, id: string, user: string, status: string) =>
  eventually(
    async () => {
      const order = await orderOf(stack, id, user);
      return order?.status === status ? order : undefined;
    },
    30_000,
    `order ${id} to become ${status}`,
  );
