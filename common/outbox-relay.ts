import pg from "pg";
import type { Message, Producer } from "kafkajs";
import type { Logger } from "./logger.ts";
import type { KafkaContext } from "./kafka/client.ts";
import { eventMessage } from "./kafka/publish.ts";

export interface OutboxRelayOptions {
  databaseUrl: string;
  ctx: KafkaContext;
  producer: Producer;
  logger: Logger;
  /** How often to look for events when no notification arrives, in ms (default 1 000). */
  pollMs?: number;
  /** Events published per Kafka request (default 500). */
  batchSize?: number;
  /**
   * After publishing a partial batch, wait this long before looking again (default 25 ms): under load, one
   * request per interval with the events of every commit in it, instead of one per commit, for at most this much
   * added delivery latency. The first event after a quiet spell is published at once.
   */
  lingerMs?: number;
  /** How long published events stay in the table (for inspection and replays), in ms (default 1 hour). */
  retentionMs?: number;
  /**
   * "preferred" (default) competes for the lock whenever it is free. "fallback" publishes only while no
   * preferred relay is connected to the database, and hands the lock over as soon as one is.
   */
  role?: RelayRole;
}

export type RelayRole = "preferred" | "fallback";

/** The advisory lock of the one relay per database that publishes at a time, so per-key order is kept. */
export const OUTBOX_LOCK_KEY = 0x0f1a54;
/** The `application_name` of a relay's connection: pg_stat_activity tells which relays are connected. */
export const relayApplicationName = (role: RelayRole) => `outbox-relay (${role})`;
const CHANNEL = "outbox_events";

/**
 * Publishes committed outbox rows to Kafka in id order, keyed by aggregate id, then marks them sent.
 * Every process that writes events runs one; a PostgreSQL advisory lock makes exactly one of them
 * active. A crash between send and mark re-sends (at least once); consumers deduplicate by event id.
 * While Kafka is down, rows wait and are published when it answers again.
 *
 * Which process publishes is decided by role, not by whichever relay took the lock first: the order service
 * writes most events, and publishing them from an otherwise idle process costs more CPU than from a busy one
 * (bench/RESULTS.md). The other services run fallbacks, which publish only while no preferred relay is connected.
 */
export function startOutboxRelay(options: OutboxRelayOptions): { close: () => Promise<void>; wake: () => void } {
  const { databaseUrl, ctx, producer, logger } = options;
  const pollMs = options.pollMs ?? 1_000;
  const batchSize = options.batchSize ?? 500;
  const lingerMs = options.lingerMs ?? 25;
  const retentionMs = options.retentionMs ?? 3_600_000;
  const role = options.role ?? "preferred";
  const fallback = role === "fallback";
  let lastPrune = 0;
  const log = logger.child({ component: "outbox-relay" });
  let client: pg.Client | null = null;
  let stopped = false;
  let wakeUp: (() => void) | null = null;
  let failures = 0;
  let pending = false; // a notification that arrived while we were not waiting
  let stopSleeping: (() => void) | null = null;

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      if (pending) {
        pending = false;
        return resolve();
      }
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });

  /** A pause that `close` cuts short. */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        stopSleeping = null;
        resolve();
      }
      stopSleeping = done;
    });

  const connect = async () => {
    const c = new pg.Client({
      connectionString: databaseUrl,
      connectionTimeoutMillis: 5_000,
      statement_timeout: 10_000,
      application_name: relayApplicationName(role),
    });
    c.on("error", (err) => log.warn({ err }, "relay connection error"));
    c.on("notification", () => (wakeUp ? wakeUp() : (pending = true)));
    await c.connect();
    // This connection runs only the relay's statements. Planned as a bitmap scan (which the planner prefers
    // while the table's statistics say it holds few pending rows), the pending-events query read every dead
    // entry of the partial index left by the rows already sent, and sorted: thousands of entries per poll until
    // autovacuum came by. As an index scan in id order it stops at the batch size, and marks the dead entries
    // it passes so the next poll skips them.
    await c.query("SET enable_bitmapscan = off");
    return c;
  };

  /** Whether a preferred relay is connected to this database: a session of its name is (gone when it ends). */
  const preferredConnected = async (c: pg.Client): Promise<boolean> => {
    const { rows } = await c.query<{ present: boolean }>(
      "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1) AS present",
      [relayApplicationName("preferred")],
    );
    return rows[0]?.present === true;
  };

  const drain = async (c: pg.Client): Promise<number> => {
    // The payload goes out as PostgreSQL prints it instead of being parsed and serialised again; the columns
    // hold the envelope's id, type and aggregate id (`key`).
    const { rows } = await c.query<{ id: string; topic: string; key: string; type: string; event_id: string; payload: string }>(
      "SELECT id, topic, key, type, event_id::text, payload::text AS payload FROM outbox_events WHERE published_at IS NULL ORDER BY id LIMIT $1",
      [batchSize],
    );
    if (rows.length === 0) return 0;
    const byTopic = new Map<string, Message[]>();
    for (const row of rows) {
      const message = eventMessage({ id: row.event_id, type: row.type, aggregateId: row.key }, row.payload);
      const messages = byTopic.get(row.topic);
      if (messages) messages.push(message);
      else byTopic.set(row.topic, [message]);
    }
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic: ctx.topic(topic), messages })),
    });
    await c.query("UPDATE outbox_events SET published_at = now() WHERE id = ANY($1::bigint[])", [rows.map((r) => r.id)]);
    return rows.length;
  };

  /** Deletes published events past retention, a bounded batch at a time, at most once a minute. */
  const prune = async (c: pg.Client) => {
    if (Date.now() - lastPrune < 60_000) return;
    lastPrune = Date.now();
    await c.query(
      `DELETE FROM outbox_events WHERE id IN (
         SELECT id FROM outbox_events WHERE published_at < now() - make_interval(secs => $1) ORDER BY published_at LIMIT 10000)`,
      [retentionMs / 1000],
    );
  };

  const loop = async () => {
    while (!stopped) {
      try {
        client ??= await connect();
        if (fallback && (await preferredConnected(client))) {
          await wait(pollMs);
          continue;
        }
        const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [OUTBOX_LOCK_KEY]);
        if (!rows[0]?.locked) {
          await wait(pollMs);
          continue;
        }
        // Only the relay that holds the lock listens: a standby that woke on every commit would only find the
        // lock taken again (under load, one wasted round trip per standby per commit).
        await client.query(`LISTEN ${CHANNEL}`);
        let checked = Date.now();
        while (!stopped) {
          const sent = await drain(client);
          failures = 0;
          // A fallback gives the lock back between batches, so the order of events per key is kept.
          if (fallback && Date.now() - checked >= pollMs) {
            checked = Date.now();
            if (await preferredConnected(client)) {
              await client.query(`UNLISTEN ${CHANNEL}`);
              await client.query("SELECT pg_advisory_unlock($1)", [OUTBOX_LOCK_KEY]);
              log.info("a preferred outbox relay is connected; it publishes from now on");
              break;
            }
          }
          if (sent < batchSize) {
            await prune(client);
            // Notifications that arrive meanwhile are kept (`pending`): the wait after the linger returns at once.
            if (sent > 0 && lingerMs > 0) await sleep(lingerMs);
            if (!stopped) await wait(pollMs);
          }
        }
      } catch (error) {
        failures++;
        log.warn({ err: error, failures }, "outbox relay failed; will retry");
        await client?.end().catch(() => undefined);
        client = null;
        await wait(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  };

  const running = loop();
  return {
    wake: () => wakeUp?.(),
    close: async () => {
      stopped = true;
      stopSleeping?.();
      wakeUp?.();
      await running;
      await client?.end().catch(() => undefined);
    },
  };
}
