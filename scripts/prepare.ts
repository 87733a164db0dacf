import type { Config } from "../common/config.ts";
import type { Logger } from "../common/logger.ts";
import { ensureDatabase, migrate } from "../common/migrate.ts";
import { createKafka, ensureTopics } from "../common/kafka/client.ts";

/** Creates the database if needed, applies migrations and creates the Kafka topics (idempotent). */
export async function prepare(config: Config, logger: Logger): Promise<void> {
  await ensureDatabase(config.DATABASE_URL);
  const applied = await migrate(config.DATABASE_URL);
  logger.info({ applied }, applied.length ? "applied migrations" : "database schema is up to date");
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS.split(","), clientId: "prepare", logger, topicPrefix: config.KAFKA_TOPIC_PREFIX });
  await ensureTopics(kafka, config.KAFKA_PARTITIONS);
  logger.info({ partitions: config.KAFKA_PARTITIONS }, "kafka topics ready");
}
