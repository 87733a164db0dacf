import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { config } from "../harness.ts";
import { createLogger } from "../../common/logger.ts";
import { createKafka, createProducer, ensureTopics, type Consumer, type KafkaContext, type Producer } from "../../common/kafka/client.ts";
import { publish } from "../../common/kafka/publish.ts";
import { runConsumer } from "../../common/kafka/consumer.ts";
import { InfrastructureError } from "../../common/errors.ts";
import { deletePaymentTopics, paymentRequested } from "../kafka-fixtures.ts";
import { eventually, killBroker, restartBrokers } from "./support.ts";

// A consumer group of two members (two instances of a service, each with a Kafka client of its own) on a topic of
// 6 partitions, on the 3-broker cluster `npm run test:cluster` starts, while events are produced without a pause
// (acks=all) and handlers now and then fail with a transient error (partition-retry's pause and resume): the
// broker leading some of the partitions is killed (SIGKILL), started again ~12 s later, and once the producing
// stopped, every acknowledged event must have been handled and the group's committed lag must reach 0.

const PARTITIONS = 6;
const prefix = `kc-${randomUUID().slice(0, 8)}.`;
const brokers = config.KAFKA_BROKERS.split(",");
// The members' kafkajs and consumer logs (warnings and errors), to tell why the group stalled when it does.
const memberLogger = createLogger("kafka-consumers", process.env.KAFKA_CONSUMERS_LOG_LEVEL ?? "silent");
const contextFor = (clientId: string): KafkaContext => createKafka({ brokers, clientId, logger: memberLogger, topicPrefix: prefix });
let admin: KafkaContext;
let producer: Producer;
let brokerDown = false;

beforeAll(async () => {
  admin = contextFor("kc-admin");
  await ensureTopics(admin, PARTITIONS, ["payment"]);
  // Every broker must know the new topic before a member subscribes (it asks whichever broker it reaches).
  const client = admin.kafka.admin();
  await client.connect();
  await eventually(async () => (await client.fetchTopicOffsets(admin.topic("payment"))).length === PARTITIONS, 30_000, "topic not ready");
  await client.disconnect();
  await sleep(3_000);
  producer = await createProducer(admin);
});

afterAll(async () => {
  await producer?.disconnect();
  if (brokerDown) await restartBrokers();
  await deletePaymentTopics(admin);
}, 240_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const since = (t0: number) => `+${((Date.now() - t0) / 1000).toFixed(1)}s`;

const payment = (i: number) => paymentRequested(`u${i}`, i);

/** The group's committed lag per partition (end offset minus committed offset; unset counts from 0). */
async function groupLag(groupId: string): Promise<Record<number, number>> {
  const client = admin.kafka.admin();
  await client.connect();
  try {
    const topic = admin.topic("payment");
    const ends = await client.fetchTopicOffsets(topic);
    const [committed] = await client.fetchOffsets({ groupId, topics: [topic] });
    const at = new Map(committed!.partitions.map((p) => [p.partition, Number(p.offset)]));
    return Object.fromEntries(ends.map((end) => [end.partition, Math.max(0, Number(end.high) - Math.max(at.get(end.partition) ?? -1, 0))]));
  } finally {
    await client.disconnect();
  }
}

/** Partition -> leader node id, as the cluster says now. */
async function leaders(): Promise<Map<number, number>> {
  const client = admin.kafka.admin();
  await client.connect();
  try {
    const [metadata] = (await client.fetchTopicMetadata({ topics: [admin.topic("payment")] })).topics;
    return new Map(metadata!.partitions.map((p) => [p.partitionId, p.leader]));
  } finally {
    await client.disconnect();
  }
}

interface Group {
  id: string;
  handled: Map<string, number>;
  /** Where each handled event was: partition and offset. */
  where: Map<string, string>;
  consumers: Consumer[];
  members: { close: () => Promise<void> }[];
  crashes: number;
}

// KAFKA_CONSUMERS_ROUNDS repeats the scenario (each round with groups of its own), for an intermittent failure.
const rounds = Array.from({ length: Number(process.env.KAFKA_CONSUMERS_ROUNDS ?? 1) }, (_, i) => i + 1);

test.each(rounds)(
  "groups of two members: a broker killed and restarted under a stream leaves nothing unconsumed (round %i)",
  async (round) => {
    const t0 = Date.now();
    const timeline: string[] = [];
    const note = (what: string) => void timeline.push(`${since(t0)} ${what}`);
    let outageUntil = 0;
    let injected = 0;
    const attempts = new Map<string, number>();

    const startGroup = async (name: string, options: { lingerMs?: number }): Promise<Group> => {
      const group: Group = { id: `${prefix}${name}-${round}`, handled: new Map(), where: new Map(), consumers: [], members: [], crashes: 0 };
      for (const index of [0, 1]) {
        const ctx = contextFor(`kc-${name}-${round}-${index}`);
        // The member's kafkajs consumer, to log its crashes and say what it has paused when the group stalls.
        const make = ctx.kafka.consumer.bind(ctx.kafka);
        ctx.kafka.consumer = (config) => {
          const consumer = make(config);
          group.consumers.push(consumer);
          consumer.on(consumer.events.CRASH, ({ payload }) => {
            group.crashes++;
            note(`${name}-${index} crash (restart ${payload.restart}): ${payload.error.name}: ${payload.error.message}`);
          });
          return consumer;
        };
        group.members.push(
          await runConsumer({
            ctx,
            producer,
            groupId: group.id,
            topics: ["payment"],
            logger: memberLogger.child({ member: `${name}-${index}` }),
            fromBeginning: true,
            lingerMs: options.lingerMs,
            handle: async (event, meta) => {
              const key = `${group.id} ${event.id}`;
              const attempt = (attempts.get(key) ?? 0) + 1;
              attempts.set(key, attempt);
              // One event in ten fails its first attempt, as a handler whose database blinked; and for a few seconds
              // after the kill, half of all attempts fail (the Redis failover of the sale test).
              const amount = (event.data as { amountCents?: number }).amountCents ?? 0;
              if ((attempt === 1 && amount % 10 === 3) || (Date.now() < outageUntil && Math.random() < 0.5)) {
                injected++;
                throw new InfrastructureError("injected transient failure", true);
              }
              await sleep(1 + Math.floor(Math.random() * 5));
              group.handled.set(event.id, (group.handled.get(event.id) ?? 0) + 1);
              group.where.set(event.id, `${meta.partition}@${meta.offset}`);
            },
          }),
        );
      }
      return group;
    };
    const groups = await Promise.all([startGroup("plain", {}), startGroup("linger", { lingerMs: 100 }), startGroup("plain2", {})]);

    // The stream: one event at a time, each sent again until Kafka acknowledged it (as the outbox relay does).
    const acked: string[] = [];
    let producing = true;
    let sendFailures = 0;
    const stream = (async () => {
      for (let i = 0; producing; i++) {
        const event = payment(i);
        for (;;) {
          try {
            await publish(admin, producer, "payment", [event]);
            acked.push(event.id);
            break;
          } catch {
            sendFailures++;
            await sleep(200);
          }
        }
        await sleep(10);
      }
    })();

    const progress = () => groups.map((g) => g.handled.size).join("/");
    try {
      await eventually(async () => groups.every((g) => g.handled.size >= 100), 30_000, "the groups did not start consuming", 200);
      await sleep(3_000);
      const before = await leaders();
      // The broker that leads the most partitions.
      const counts = new Map<number, number>();
      for (const leader of before.values()) counts.set(leader, (counts.get(leader) ?? 0) + 1);
      const victim = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
      note(`leaders ${JSON.stringify([...before])}; killing broker ${victim}; handled ${progress()} of ${acked.length}`);
      killBroker(victim);
      brokerDown = true;
      outageUntil = Date.now() + 6_000;
      await sleep(12_000);
      note(`restarting broker ${victim}; handled ${progress()} of ${acked.length}, send failures ${sendFailures}`);
      await restartBrokers();
      brokerDown = false;
      note(`broker ${victim} back; leaders ${JSON.stringify([...(await leaders())])}; handled ${progress()} of ${acked.length}`);
      await sleep(8_000);
      producing = false;
      await stream;
      note(`stopped producing: ${acked.length} acknowledged, ${sendFailures} send failures, ${injected} injected failures`);

      const missing = (g: Group) => acked.filter((id) => !g.handled.has(id));
      const lagTotal = async (g: Group) => Object.values(await groupLag(g.id)).reduce((a, b) => a + b, 0);
      await eventually(async () => groups.every((g) => missing(g).length === 0), 60_000, "events unhandled", 500).catch(() => undefined);
      await eventually(async () => (await Promise.all(groups.map(lagTotal))).every((n) => n === 0), 20_000, "lag", 500).catch(() => undefined);
      const outcome = [];
      for (const g of groups) {
        const lag = await groupLag(g.id);
        const paused = g.consumers.map((c) => JSON.stringify(c.paused().map((p) => p.partitions)));
        note(`${g.id}: ${missing(g).length} unhandled, ${g.crashes} crashes, lag ${JSON.stringify(lag)}, paused ${paused.join(" ")}`);
        outcome.push({ group: g.id, missing: missing(g).length, lag: Object.values(lag).reduce((a, b) => a + b, 0) });
      }
      process.stdout.write(`kafka-consumers timeline:\n${timeline.join("\n")}\n`);
      expect(outcome).toEqual(groups.map((g) => ({ group: g.id, missing: 0, lag: 0 })));
    } finally {
      producing = false;
      await stream;
      await Promise.all(groups.flatMap((g) => g.members.map((m) => m.close())));
    }
  },
  300_000,
);
