import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { createKafka } from "../common/kafka/client.ts";
import { createServices, SERVICE_NAMES, withFreePorts, type Services } from "../scripts/services.ts";
import { adminToken, config, gql, logger, token, type GraphQLResponse } from "./harness.ts";
import { createProduct, line, ORDER, orderInput, PAY_ORDER, PLACE_ORDER } from "./orders.ts";
import { eventually } from "./eventually.ts";
import { createSale, purchaseInput, PURCHASE, SALE } from "../subgraphs/flash-sale/test/support.ts";

// The platform as `npm start` runs it: five processes (scripts/services.ts, the same code), the order service
// running the flash order writer, each with the configuration this test process has (`npm test` points it at
// the test database and topic prefix). Everything below goes through the router only.
let services: Services;
let admin: string;
const mailDir = mkdtempSync(path.join(tmpdir(), "flashgraph-smoke-mail-"));

beforeAll(async () => {
  const env = await withFreePorts({
    ...process.env,
    // Each service's output is captured and shown only when something fails, so warnings cost no noise.
    LOG_LEVEL: config.LOG_LEVEL === "silent" ? "warn" : config.LOG_LEVEL,
    PAYMENT_LATENCY_MS: "20",
    FLASH_IP_RATE: "1000",
    MAIL_DIR: mailDir,
  });
  services = createServices({ env, logger, output: "capture", healthTimeoutMs: 90_000, killAfterMs: 20_000 });
  await services.start();
  admin = await adminToken();
}, 200_000);

afterAll(async () => {
  await services?.stop();
  rmSync(mailDir, { recursive: true, force: true });
}, 30_000);

/** Every service's last output, for the message of a failed step (with `LOG_LEVEL` unset, warnings and worse). */
const outputs = () => SERVICE_NAMES.map((name) => `--- ${name}\n${services.output(name).slice(-2_000)}`).join("\n");

async function call(query: string, variables: Record<string, unknown>, user: string) {
  const res: GraphQLResponse = await gql(services.routerUrl, query, variables, { token: user });
  if (res.errors) throw new Error(`${JSON.stringify(res.errors)}\n${outputs()}`);
  return res.data!;
}
const api = (query: string, variables?: Record<string, unknown>, opts?: { token?: string }) => gql(services.routerUrl, query, variables, opts);

const untilStatus = (id: string, user: string, status: string) =>
  eventually(async () => ((await call(ORDER, { id }, user)).order?.status === status ? true : undefined), 30_000, `order ${id} to become ${status}`);

test("an order placed and paid through the router is CONFIRMED and its units are sold", async () => {
  const product = await createProduct(api, admin, 10);
  const user = await token(`smoke-${randomUUID()}`);
  const { placeOrder: order } = await call(PLACE_ORDER, { input: orderInput([line(product, 2)]) }, user);
  expect(order).toMatchObject({ status: "RESERVED", totalCents: 2_000, currency: "USD", items: [{ quantity: 2, product: { id: product.id } }] });

  expect((await call(PAY_ORDER, { id: order.id, token: "tok_visa" }, user)).payOrder.id).toBe(order.id);
  await untilStatus(order.id, user, "CONFIRMED");
  const { product: read } = await call(`query($id: ID!) { product(id: $id) { stock { available reserved sold } } }`, { id: product.id }, user);
  expect(read.stock).toEqual({ available: 8, reserved: 0, sold: 2 });
}, 90_000);

test("a flash purchase is written as an order by the order service's writer, and paid", async () => {
  const product = await createProduct(api, admin, 10);
  const sale = await createSale(api, admin, [{ productId: product.id, quantity: 5, salePriceCents: 250 }], {
    startsAt: new Date(Date.now() + 1_500).toISOString(),
  });
  expect(sale.state).toBe("SCHEDULED");
  await eventually(
    async () => ((await api(SALE, { id: sale.id })).data?.flashSale?.state === "ACTIVE" ? true : undefined),
    15_000,
    "the sale to start",
  );

  const buyerId = `smoke-${randomUUID()}`;
  const buyer = await token(buyerId);
  const { flashPurchase: order } = await call(PURCHASE, { input: purchaseInput(sale.id, product.id, 2) }, buyer);
  expect(order).toMatchObject({ status: "RESERVED", totalCents: 500, flashSaleId: sale.id });

  // myOrders reads PostgreSQL only (order(id) would also find the order while it is pending in Redis), so
  // this waits for the writer. Its consumer group is the default one, used only by the order service's
  // main.ts: flash-sale's runs without a writer, and test stacks give theirs groups of their own.
  const writerGroup = await writerGroupAfter();
  await eventually(
    async () => ((await call(`{ myOrders { nodes { id status flashSaleId } } }`, {}, buyer)).myOrders.nodes.length ? true : undefined),
    30_000,
    "the flash order in PostgreSQL",
  );
  const { myOrders } = await call(`{ myOrders { nodes { id status flashSaleId } } }`, {}, buyer);
  expect(myOrders.nodes).toEqual([{ id: order.id, status: "RESERVED", flashSaleId: sale.id }]);
  expect(await writerGroup.members()).toEqual(["order"]);
  await writerGroup.caughtUp();

  await call(PAY_ORDER, { id: order.id, token: "tok_visa" }, buyer);
  await untilStatus(order.id, buyer, "CONFIRMED");
  expect((await api(SALE, { id: sale.id })).data!.flashSale.items).toEqual([
    { product: { id: product.id }, salePriceCents: 250, quantity: 5, remaining: 3 },
  ]);
}, 90_000);

test("SIGTERM stops every service cleanly (exit code 0) within 20 s", async () => {
  // A service still running 20 s after SIGTERM (killAfterMs) is killed, and its exit is not clean.
  const exits = await services.stop();
  const unclean = Object.entries(exits).filter(([, exit]) => exit.code !== 0);
  expect(unclean.map(([name, exit]) => `${name} ${JSON.stringify(exit)}:\n${services.output(name)}`)).toEqual([]);
  expect(Object.keys(exits).sort()).toEqual([...SERVICE_NAMES].sort());
}, 30_000);

/**
 * The flash order writer's consumer group as it stands once a purchase returned (its event is then on Kafka):
 * who its members are (Kafka client ids: each service names its client after itself, common/infra.ts), and
 * a wait until the group has committed past every event published so far, ours included.
 */
async function writerGroupAfter() {
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS.split(","), clientId: "smoke", logger, topicPrefix: config.KAFKA_TOPIC_PREFIX });
  const topic = kafka.topic("flash-order");
  const groupId = kafka.topic("flash-order-writer");
  const withAdmin = async <T>(use: (admin: ReturnType<typeof kafka.kafka.admin>) => Promise<T>) => {
    const admin = kafka.kafka.admin();
    await admin.connect();
    try {
      return await use(admin);
    } finally {
      await admin.disconnect();
    }
  };
  const ends = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
  return {
    members: () => withAdmin(async (admin) => (await admin.describeGroups([groupId])).groups[0]!.members.map((m) => m.clientId)),
    caughtUp: () =>
      withAdmin((admin) =>
        eventually(
          async () => {
            const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
            const at = new Map(committed!.partitions.map((p) => [p.partition, Number(p.offset)]));
            // A partition the group never read has no commit (-1); it is caught up if it is empty.
            return ends.every((end) => Math.max(at.get(end.partition) ?? -1, 0) >= Number(end.high)) ? true : undefined;
          },
          30_000,
          `${groupId} to commit past the purchase`,
        ),
      ),
  };
}
