// npm run dlq -- list [<topic>]     the dead letters of one topic's DLQ (e.g. `payment`), or of every platform topic
// npm run dlq -- replay <topic>     sends the letters no replay sent yet back to <topic> (docs/failure-modes.md)
// Uses KAFKA_BROKERS and KAFKA_TOPIC_PREFIX like the services.

import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { TOPICS } from "../common/events.ts";
import { createKafka, createProducer } from "../common/kafka/client.ts";
import { listDeadLetters, replayDeadLetters } from "../common/kafka/dead-letters.ts";
import type { DeadLetter } from "../common/kafka/dead-letter.ts";

const USAGE = "usage: npm run dlq -- list [<topic>] | replay <topic>   (topics: " + TOPICS.join(", ") + ")";

const describe = (l: DeadLetter) =>
  `  ${l.source.topic}[${l.source.partition}]@${l.source.offset}  key=${l.key ?? "-"}  ${l.eventType ?? "?"} ${l.eventId ?? "?"}  ` +
  `${l.kind}${l.attempts > 1 ? ` after ${l.attempts} attempts` : ""}: ${l.error.split("\n")[0]}  (${l.time}, ${l.group})`;

const [command, topicArg] = process.argv.slice(2);
if ((command !== "list" && command !== "replay") || (command === "replay" && !topicArg)) {
  console.error(USAGE);
  process.exit(2);
}
const topic = topicArg?.replace(/\.dlq$/, "");
if (topic !== undefined && !(TOPICS as readonly string[]).includes(topic)) {
  console.error(`unknown topic ${topic}; ${USAGE}`);
  process.exit(2);
}

const config = loadConfig();
const logger = createLogger("dlq", config.LOG_LEVEL === "info" ? "warn" : config.LOG_LEVEL);
const ctx = createKafka({ brokers: config.KAFKA_BROKERS.split(","), clientId: "dlq", logger, topicPrefix: config.KAFKA_TOPIC_PREFIX });

if (command === "list") {
  for (const name of topic ? [topic] : TOPICS) {
    const listing = await listDeadLetters(ctx, name);
    const replayed = listing.letters.filter((l) => l.replayed).length;
    console.log(`${listing.topic}: ${listing.count} dead letter${listing.count === 1 ? "" : "s"}${replayed > 0 ? `, ${replayed} replayed` : ""}`);
    for (const letter of listing.letters) console.log(`${describe(letter)}${letter.replayed ? "  [replayed]" : ""}`);
  }
} else {
  const producer = await createProducer(ctx);
  try {
    const { replayed, skipped } = await replayDeadLetters(ctx, producer, topic!);
    console.log(
      `${ctx.topic(`${topic}.dlq`)}: replayed ${replayed.length} to ${ctx.topic(topic!)}${skipped.length > 0 ? `, skipped ${skipped.length} malformed` : ""}`,
    );
    for (const letter of replayed) console.log(describe(letter));
    for (const letter of skipped) console.log(`${describe(letter)}  [skipped: not an event]`);
  } finally {
    await producer.disconnect();
  }
}
