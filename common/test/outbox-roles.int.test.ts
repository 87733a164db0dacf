import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { OUTBOX_LOCK_KEY, relayApplicationName, startOutboxRelay, type RelayRole } from "../outbox-relay.ts";
import { envelopesSql, outboxInsertSql } from "../outbox.ts";
import { config, connectTestInfra, logger, watchTopic, type Infra } from "../../test/harness.ts";
import { eventually } from "../../test/eventually.ts";

let infra: Infra;
beforeAll(async () => {
  infra = await connectTestInfra();
});
afterAll(() => infra.close());

/** application_name of the session holding the relay lock (the one relay publishing), or null. */
async function publisher(): Promise<string | null> {
  const rows = await infra.prisma.$queryRaw<{ name: string }[]>`
    SELECT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = ${OUTBOX_LOCK_KEY}::oid
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
  return rows[0]?.name ?? null;
}

/** Writes one event into the outbox, as a service's transaction would; returns its id. */
async function enqueueOne(): Promise<string> {
  const id = randomUUID();
  const aggregateId = randomUUID();
  const probe = { id, type: "RelayRoleProbe", version: 1, aggregateId, occurredAt: new Date().toISOString(), data: {} };
  await infra.prisma.$executeRaw(outboxInsertSql({ topic: "order", envelopes: envelopesSql([probe]) }));
  return id;
}

const relay = (role: RelayRole) =>
  startOutboxRelay({ databaseUrl: config.DATABASE_URL, ctx: infra.kafka, producer: infra.producer, logger, pollMs: 100, role });

test("a fallback relay publishes only while no preferred relay is connected, and hands over between batches", async () => {
  const topic = await watchTopic(infra.kafka, "order");
  const fallback = relay("fallback");
  let preferred: ReturnType<typeof relay> | null = null;
  try {
    // Alone, the fallback publishes.
    const first = await enqueueOne();
    await topic.waitFor((e) => e.id === first);
    expect(await publisher()).toBe(relayApplicationName("fallback"));

    // A preferred relay connects: the fallback gives the lock back and the preferred one publishes.
    preferred = relay("preferred");
    await eventually(
      async () => ((await publisher()) === relayApplicationName("preferred") ? true : undefined),
      10_000,
      "the preferred relay to take over",
    );
    const second = await enqueueOne();
    await topic.waitFor((e) => e.id === second);
    expect(await publisher()).toBe(relayApplicationName("preferred"));

    // It goes away: the fallback publishes again.
    await preferred.close();
    preferred = null;
    await eventually(
      async () => ((await publisher()) === relayApplicationName("fallback") ? true : undefined),
      10_000,
      "the fallback to take over again",
    );
    const third = await enqueueOne();
    await topic.waitFor((e) => e.id === third);

    // Every event went out once, in order.
    const seen = topic.events.filter((e) => [first, second, third].includes(e.id)).map((e) => e.id);
    expect(seen).toEqual([first, second, third]);
  } finally {
    await preferred?.close();
    await fallback.close();
    await topic.close();
  }
});
