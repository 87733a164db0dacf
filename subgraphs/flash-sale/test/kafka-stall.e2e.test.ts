import { randomUUID } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { adminToken, startStack, token, watchTopic, type Stack } from "../../../test/harness.ts";
import { startOwnKafka } from "../../../test/chaos/infra.ts";
import { orderIdFor } from "../../../common/orders/order-id.ts";
import { itemKeys } from "../../../common/orders/flash-keys.ts";
import { createProduct, ORDER, PAY_ORDER } from "../../../test/orders.ts";
import { eventually } from "../../../test/eventually.ts";
import { createSale, pgSold, purchaseInput, PURCHASE, SALE } from "./support.ts";

// Issue 20, "unknown outcomes are not failures": the Kafka broker stalls (SIGSTOP) during a flash sale while
// purchases keep coming. A purchase whose event is not acknowledged within FLASH_PUBLISH_TIMEOUT_MS (1.5 s here) is
// taken back; its event still lands when the broker resumes, and the writer's fence must skip it.
// The stalled broker is this file's own (scripts/infra.sh kafka-start, ~10 s), with the file's topics under its prefix;
// the shared broker, which the file running beside this one uses, is never paused (docs/testing.md).
const PUBLISH_TIMEOUT_MS = 1_500;
const PAUSE_MS = 4_000;
const SLOW = 240_000; // a broker start takes ~10 s here, more on a loaded machine

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const INFRA_DIR = `${ROOT}.infra`;
/** One directory per jest worker, so two runs at once in this checkout never share (or stop) a broker. */
const BROKER_NAME = "kafka-flash-stall-";
const BROKER_DIR = `${INFRA_DIR}/${BROKER_NAME}${process.pid}`;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Brokers of runs killed before their afterAll (named after a worker that is gone): stopped, their directories removed. */
function removeLeftoverBrokers() {
  if (!existsSync(INFRA_DIR)) return;
  for (const name of readdirSync(INFRA_DIR)) {
    const pid = Number(name.slice(BROKER_NAME.length));
    if (!name.startsWith(BROKER_NAME) || !Number.isInteger(pid) || alive(pid)) continue;
    const dir = `${INFRA_DIR}/${name}`;
    if (spawnSync("bash", [`${ROOT}scripts/infra.sh`, "kafka-stop", dir], { stdio: "ignore", timeout: 120_000 }).status === 0) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

let kafka: Awaited<ReturnType<typeof startOwnKafka>> | undefined;
let stack: Stack; // set by beforeAll; unset only if it failed
let admin: string;
beforeAll(async () => {
  removeLeftoverBrokers();
  kafka = await startOwnKafka(ROOT, BROKER_DIR);
  stack = await startStack({
    kafkaBrokers: kafka.brokers,
    relay: true,
    order: { workers: true },
    flash: { publishTimeoutMs: PUBLISH_TIMEOUT_MS },
  });
  admin = await adminToken();
}, SLOW);
afterAll(async () => {
  try {
    await stack?.close();
  } finally {
    // Stopped even when the test or the stack failed; the directory only once the broker is gone.
    if (kafka) {
      await kafka.close();
      rmSync(BROKER_DIR, { recursive: true, force: true });
    }
  }
}, SLOW);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("a Kafka stall: no buyer told 'nothing was bought' gets an order, and the sale's units add up", async () => {
  const product = await createProduct(stack.gql, admin, 31);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 10 }], { perUserLimit: 1 });
  // A second sale of the same product: its events share the partition (key = product id), so once its order is
  // written, the writer has handled every event the stalled broker took before it.
  const sentinelSale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 1 }], { perUserLimit: 1 });
  const topic = await watchTopic(stack.kafka, "flash-order");
  const buyers = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const userId = `stall-${randomUUID()}`;
      const key = randomUUID();
      return { i, user: await token(userId), key, orderId: orderIdFor(userId, key) };
    }),
  );

  const answers: Promise<{ user: string; orderId: string; code: string | null; status: string | null }>[] = [];
  let stall: Promise<void> | undefined;
  try {
    for (const b of buyers) {
      // SIGSTOP now (pause() sends it before its first await), SIGCONT after PAUSE_MS while purchases keep coming.
      if (b.i === 5) stall = kafka!.pause(PAUSE_MS);
      answers.push(
        stack.gql(PURCHASE, { input: purchaseInput(sale.id, product.id, 1, b.key) }, { token: b.user }).then((res) => ({
          user: b.user,
          orderId: b.orderId,
          code: (res.errors?.[0]?.extensions?.code as string | undefined) ?? null,
          status: (res.data?.flashPurchase as { id: string; status: string } | null)?.status ?? null,
        })),
      );
      await sleep(200);
    }
    await Promise.all(answers);
  } finally {
    await stall; // the broker runs again, also when a purchase threw
  }
  const results = await Promise.all(answers);
  const acked = results.filter((r) => r.status === "RESERVED");
  const failed = results.filter((r) => r.code === "INTERNAL_SERVER_ERROR");
  // The fault happened: some purchases timed out, some went through.
  expect(failed.length).toBeGreaterThan(0);
  expect(acked.length).toBeGreaterThan(0);
  expect(acked.length).toBeLessThanOrEqual(10);
  expect(results.every((r) => r.status === "RESERVED" || r.code === "INTERNAL_SERVER_ERROR" || r.code === "OUT_OF_STOCK")).toBe(true);

  const sentinelUser = await token(`stall-${randomUUID()}`);
  const sentinel = await stack.gql(PURCHASE, { input: purchaseInput(sentinelSale.id, product.id) }, { token: sentinelUser });
  expect(sentinel.errors).toBeUndefined();
  const sentinelId = (sentinel.data!.flashPurchase as { id: string }).id;
  await eventually(async () => ((await stack.prisma.order.count({ where: { id: sentinelId } })) === 1 ? true : undefined), 30_000, "sentinel order");

  // The taken-back purchases' events reached Kafka after all (kafkajs sent them before the stall): the real late write.
  const failedIds = failed.map((f) => f.orderId);
  const landed = topic.events.filter((e) => failedIds.includes(e.data?.orderId));
  await topic.close();
  expect(landed.length).toBeGreaterThan(0);

  // No buyer told "nothing was bought" has an order, in PostgreSQL or pending; paying it is NOT_FOUND.
  expect(await stack.prisma.order.count({ where: { id: { in: failedIds } } })).toBe(0);
  for (const { orderId: id, user } of failed) {
    expect((await stack.gql(ORDER, { id }, { token: user })).data?.order ?? null).toBeNull();
    expect((await stack.gql(PAY_ORDER, { id, token: "tok_visa" }, { token: user })).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    expect(await stack.redis.hget(itemKeys(sale.id, product.id).reservation(id), "state")).toBe("aborted");
  }

  // Every acknowledged purchase exists exactly once and can be paid; confirmed orders never exceed the quantity.
  for (const a of acked) {
    expect(await stack.prisma.orderItem.count({ where: { orderId: a.orderId } })).toBe(1);
    expect((await stack.gql(PAY_ORDER, { id: a.orderId, token: "tok_visa" }, { token: a.user })).errors).toBeUndefined();
  }
  await eventually(
    async () =>
      (await stack.prisma.order.count({ where: { id: { in: acked.map((a) => a.orderId) }, status: "CONFIRMED" } })) === acked.length
        ? true
        : undefined,
    30_000,
    "acknowledged orders to be confirmed",
  );
  expect(await stack.prisma.order.count({ where: { flashSaleId: sale.id, status: "CONFIRMED" } })).toBe(acked.length);
  expect(await stack.prisma.order.count({ where: { flashSaleId: sale.id } })).toBe(acked.length);

  // remaining + sold = quantity, in the API and in Redis.
  const item = (await stack.gql(SALE, { id: sale.id })).data!.flashSale.items[0] as { remaining: number; quantity: number };
  const sold = await pgSold(stack.prisma, sale.id, product.id);
  expect({ remaining: item.remaining, sold }).toEqual({ remaining: 10 - acked.length, sold: acked.length });
  expect(Number(await stack.redis.hget(itemKeys(sale.id, product.id).item, "sold"))).toBe(acked.length);
}, 90_000);
