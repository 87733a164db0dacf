import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { Partitioners } from "kafkajs";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { createRedis } from "../../common/redis.ts";
import { createKafka } from "../../common/kafka/client.ts";
import { stockKey } from "../../common/stock.ts";
import { itemKeys } from "../../common/orders/flash-keys.ts";
import { reservationKey } from "../../common/orders/reservation-keys.ts";
import { createClusterStack, freeLayout, type ClusterStack } from "../../scripts/cluster-stack.ts";
import { SERVICE_NAMES } from "../../scripts/services.ts";
import { config, logger } from "../harness.ts";
import { LOAD_ENV, runLoadPhase, type PhaseFault } from "../chaos/phase.ts";
import type { Check } from "../chaos/invariants.ts";
import { createScenario, type Ledger, type LedgerOrder, type Scenario } from "../chaos/load.ts";
import { formatTable } from "../chaos/table.ts";
import {
  clusterPorts,
  clusterView,
  crashNode,
  eventually,
  killBroker,
  masterAndReplica,
  masterPortOf,
  restartBrokers,
  restartNode,
  type CrashedNode,
} from "./support.ts";

// Issue 24's failover under a sale, on the whole cluster stack (scripts/cluster-stack.ts: two instances of every
// subgraph and router behind HAProxy, on the Redis Cluster and the 3-broker Kafka `npm run test:cluster` started):
// the chaos suite's load (test/chaos/load.ts: buyers placing, paying, declining and cancelling regular orders, a
// flash crowd every second) runs through HAProxy while the Redis master of the `{stock}` slot (every regular
// counter and reservation; the sale item is made to live on the same master) and the Kafka broker leading the
// sale item's flash-order partition are killed with SIGKILL at the same moment. The load goes on through the failover, the killed nodes are started again (the
// Redis node rejoins as a replica, the broker with its data), the load stops, and once the platform is quiet
// every chaos invariant (test/chaos/invariants.ts) must hold, and orders must have gone on being acknowledged
// after the failover: with the slot on the promoted replica and two brokers, and again once both nodes are back.

const ports = clusterPorts();
let stack: ClusterStack;
const db = new pg.Client({ connectionString: config.DATABASE_URL });
const redis = createRedis(config.REDIS_URL);
const kafka = createKafka({
  brokers: config.KAFKA_BROKERS.split(","),
  clientId: "failover-sale",
  logger: logger.child({ component: "failover-sale" }),
  topicPrefix: config.KAFKA_TOPIC_PREFIX,
});
const mailDir = mkdtempSync(path.join(tmpdir(), "flashgraph-failover-mail-"));
const haproxyDir = mkdtempSync(path.join(tmpdir(), "flashgraph-failover-haproxy-"));
const exits: string[] = [];
// What the fault took down and has not brought back yet; afterAll restores it, so later files get a whole cluster.
let downRedis: { node: CrashedNode; askPort: number } | null = null;
let brokerDown = false;

beforeAll(async () => {
  const env = {
    ...process.env,
    ...LOAD_ENV,
    LOG_LEVEL: config.LOG_LEVEL === "silent" ? "warn" : config.LOG_LEVEL,
    MAIL_DIR: mailDir,
    CACHE_KEY_PREFIX: `test:${randomUUID()}:`,
  };
  stack = createClusterStack({
    env,
    logger,
    layout: await freeLayout(2),
    dir: haproxyDir,
    output: "capture",
    healthTimeoutMs: 240_000,
    onUnexpectedExit: (name, exit) => void exits.push(`${name} (code ${exit.code}, signal ${exit.signal})`),
  });
  await Promise.all([stack.start(), db.connect()]);
}, 360_000);

afterAll(async () => {
  const restored = await Promise.allSettled([
    downRedis ? restartNode(downRedis.node, downRedis.askPort) : undefined,
    brokerDown ? restartBrokers() : undefined,
  ]);
  await stack?.stop();
  redis.disconnect();
  await db.end();
  rmSync(mailDir, { recursive: true, force: true });
  rmSync(haproxyDir, { recursive: true, force: true });
  const failed = restored.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length) throw new Error(`could not restore the killed nodes: ${failed.map((f) => String(f.reason)).join("; ")}`);
}, 240_000);

/** When the fault's steps happened (epoch ms), for the windows the sale is judged in. */
interface Timeline {
  killedAt: number;
  promotedAt: number;
  restartingAt: number;
  backAt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` holds or `timeoutMs` passed; says which. */
async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
  return true;
}

// Regular stock and the sale large enough that the load never sells out: an acknowledgement after the failover
// must mean the platform works, not that a refusal came fast.
const STOCKS = [4_000, 4_000, 4_000];
const SALE = { stock: 1_200, quantity: 1_000 };

/**
 * Products and a sale whose item's slot is served by the master of the `{stock}` slot, so that one kill takes both
 * the regular counters and a flash item (about a third of new items land there; after 8 tries, whatever came).
 */
async function sharedMasterScenario(): Promise<Scenario> {
  for (let attempt = 1; ; attempt++) {
    const scenario = await createScenario(stack.routerUrl, config.JWT_SECRET, STOCKS, SALE);
    const stockMaster = await masterPortOf(ports[0]!, stockKey(scenario.products[0]!.id));
    const itemMaster = await masterPortOf(ports[0]!, itemKeys(scenario.sale.id, scenario.sale.productId).item);
    if (stockMaster === itemMaster || attempt === 8) return scenario;
  }
}

const acked = (ledger: Ledger, kind: LedgerOrder["kind"], from: number, to = Infinity) =>
  ledger.orders.filter((o) => o.kind === kind && o.outcome === "ack" && o.sentAt >= from && o.sentAt < to).length;

/** The broker leading the partition the sale item's events go to (keyed by product id, kafkajs's default partitioner). */
async function saleEventsLeader(scenario: Scenario): Promise<{ broker: number; partition: number }> {
  const admin = kafka.kafka.admin();
  await admin.connect();
  try {
    const topic = kafka.topic("flash-order");
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics;
    const partitionMetadata = metadata!.partitions;
    const partition = Partitioners.DefaultPartitioner()({ topic, partitionMetadata, message: { key: scenario.sale.productId, value: null } });
    return { broker: partitionMetadata.find((p) => p.partitionId === partition)!.leader, partition };
  } finally {
    await admin.disconnect();
  }
}

function failover(timeline: Partial<Timeline>): PhaseFault {
  return {
    name: "Redis {stock} master + Kafka broker kill -9 mid-sale",
    async inject(scenario, ledger) {
      const { master, replica } = await masterAndReplica(ports[0]!, stockKey(scenario.products[0]!.id));
      const flashMaster = await masterPortOf(ports[0]!, itemKeys(scenario.sale.id, scenario.sale.productId).item);
      const { broker, partition } = await saleEventsLeader(scenario);

      timeline.killedAt = Date.now();
      killBroker(broker);
      brokerDown = true;
      const crashed = await crashNode(master);
      downRedis = { node: crashed, askPort: replica };
      await eventually(
        async () => (await clusterView(replica)).some((v) => v.port === replica && v.role === "master"),
        30_000,
        `replica ${replica} was not promoted`,
        200,
      );
      timeline.promotedAt = Date.now();

      // The sale goes on with the slot on the promoted replica and two brokers: until orders and flash purchases
      // sent after the promotion were acknowledged (or a minute passed: the check after the phase then fails),
      // and for at least the broker's session timeout (9 s), so its partitions moved to other leaders meanwhile.
      const minimum = timeline.killedAt + 12_000;
      await waitUntil(
        () => Date.now() >= minimum && acked(ledger, "regular", timeline.promotedAt!) > 0 && acked(ledger, "flash", timeline.promotedAt!) > 0,
        60_000,
      );

      timeline.restartingAt = Date.now();
      await Promise.all([restartNode(crashed, replica).then(() => void (downRedis = null)), restartBrokers().then(() => void (brokerDown = false))]);
      timeline.backAt = Date.now();
      // ...and goes on once they are back (the check after the phase fails if nothing came within a minute).
      await waitUntil(() => acked(ledger, "regular", timeline.backAt!) > 0 && acked(ledger, "flash", timeline.backAt!) > 0, 60_000);
      const s = (from: number, to: number) => ((to - from) / 1000).toFixed(1);
      return {
        name: "killed nodes back",
        ok: true,
        detail:
          `redis master ${master} ({stock}; sale item on ${flashMaster === master ? "the same master" : `master ${flashMaster}`}) and ` +
          `broker ${broker} (leader of the item's flash-order partition ${partition}) killed; replica ${replica} promoted after ` +
          `${s(timeline.killedAt, timeline.promotedAt)} s; restarted after ${s(timeline.killedAt, timeline.restartingAt)} s, ` +
          `back (node a replica, broker ready) ${s(timeline.restartingAt, timeline.backAt)} s later`,
      };
    },
  };
}

/** The sale did not stop for good: acknowledged orders and purchases sent after the promotion, and after both nodes were back. */
function saleWentOn(ledger: Ledger, t: Timeline): Check {
  const windows = {
    before: [0, t.killedAt],
    failover: [t.killedAt, t.promotedAt],
    degraded: [t.promotedAt, t.restartingAt],
    back: [t.backAt, Infinity],
  } as const;
  const counts = Object.fromEntries(
    Object.entries(windows).map(([name, [from, to]]) => [
      name,
      { regular: acked(ledger, "regular", from, to), flash: acked(ledger, "flash", from, to) },
    ]),
  );
  // The longest stretch without an acknowledged regular order, by when the answers came.
  const answers = ledger.orders
    .filter((o) => o.kind === "regular" && o.outcome === "ack")
    .map((o) => o.answeredAt)
    .sort((a, b) => a - b);
  const gap = answers.reduce((longest, at, i) => (i ? Math.max(longest, at - answers[i - 1]!) : longest), 0);
  const ok = ["degraded", "back"].every((w) => counts[w]!.regular > 0 && counts[w]!.flash > 0);
  return {
    name: "orders go on after the failover",
    ok,
    detail: `acknowledged (regular/flash) by when sent: ${Object.entries(counts)
      .map(([name, c]) => `${name} ${c.regular}/${c.flash}`)
      .join(", ")}; longest gap between regular acknowledgements ${(gap / 1000).toFixed(1)} s`,
  };
}

/**
 * Why Redis and PostgreSQL disagree, when they do: the acknowledged regular orders whose reservation hash Redis no
 * longer has (it is kept as a tombstone for days once settled, so only a lost write removes it), each with its
 * status in PostgreSQL and when its client sent it and got the answer, relative to the kill.
 */
async function lostReservations(ledger: Ledger, t: Timeline): Promise<string> {
  const acks = ledger.orders.filter((o) => o.kind === "regular" && o.outcome === "ack");
  const gone = (await Promise.all(acks.map(async (o) => ((await redis.exists(reservationKey(o.orderId))) ? null : o)))).filter((o) => o !== null);
  if (!gone.length) return `; all ${acks.length} acknowledged regular orders have their reservation in Redis`;
  const { rows } = await db.query<{ id: string; status: string }>("SELECT id::text, status FROM orders WHERE id = ANY($1::uuid[])", [
    gone.map((o) => o.orderId),
  ]);
  const status = new Map(rows.map((r) => [r.id, r.status]));
  const at = (ms: number) => `${ms >= t.killedAt ? "+" : ""}${((ms - t.killedAt) / 1000).toFixed(3)} s`;
  return `; ${gone.length} of ${acks.length} acknowledged regular orders have no reservation in Redis: ${gone
    .map(
      (o) =>
        `${o.orderId.slice(0, 8)} ${status.get(o.orderId) ?? "not in PostgreSQL"} ${o.lines.map((l) => `${l.productId.slice(0, 8)}x${l.quantity}`).join("+")} ` +
        `sent ${at(o.sentAt)}, acknowledged ${at(o.answeredAt)} from the kill`,
    )
    .join("; ")}`;
}

test("a Redis master and a Kafka broker killed mid-sale: the sale goes on, and every invariant holds once the platform is quiet", async () => {
  const timeline: Partial<Timeline> = {};
  const { result, ledger } = await runLoadPhase(
    {
      routerUrl: stack.routerUrl,
      jwtSecret: config.JWT_SECRET,
      db,
      redis,
      kafka,
      crashed: async () => exits,
    },
    failover(timeline),
    {
      scenario: sharedMasterScenario,
      // Modest (2 cores, ten services): buyers mostly wait on their payments, the crowd is a wave a second.
      load: { buyers: 8, crowd: 5 },
      beforeMs: 8_000,
      afterMs: 2_000,
      quiescenceMs: 120_000,
    },
  );
  if (ledger && timeline.backAt) {
    result.checks.push(saleWentOn(ledger, timeline as Timeline));
    const counters = result.checks.find((c) => c.name === "units conserved (Redis = PostgreSQL)");
    if (counters && !counters.ok) counters.detail += await lostReservations(ledger, timeline as Timeline);
  }
  process.stdout.write(`${formatTable([result])}\n`);

  const failed = [result.quiescence, ...result.checks].filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  // What every process said last (warnings and errors: LOG_LEVEL warn), to tell why a check failed.
  if (failed.length || result.error)
    process.stdout.write(
      stack.instances
        .flatMap((instance, i) => SERVICE_NAMES.map((name) => `--- ${name}-${i + 1}\n${instance.output(name).slice(-3_000)}\n`))
        .join(""),
    );
  expect(result.error).toBeUndefined();
  expect(failed).toEqual([]);
  // Every chaos invariant, the nodes' return and the sale's continuation were checked.
  expect(result.checks.map((c) => c.name)).toEqual(expect.arrayContaining(["killed nodes back", "orders go on after the failover"]));
  expect(result.checks.length).toBeGreaterThanOrEqual(9);
}, 420_000);
