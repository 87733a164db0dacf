import { randomUUID } from "node:crypto";
import { createEventHub } from "../event-hub.ts";
import { publish } from "../kafka/publish.ts";
import { createEvent, type InventoryEvent } from "../events.ts";
import { connectTestInfra, logger, type Infra } from "../../test/harness.ts";
import { received } from "../../test/wait.ts";

let infra: Infra;
beforeAll(async () => void (infra = await connectTestInfra()));
afterAll(() => infra.close());

const change = (productId: string, available: number) =>
  createEvent<InventoryEvent>("StockChanged", productId, {
    productId,
    available,
    reserved: 0,
    sold: 0,
    version: available,
    reason: "restock",
    delta: 1,
  });

test("a hub delivers every event published after it returned, the first one included", async () => {
  for (let round = 0; round < 3; round++) {
    const hub = await createEventHub({ ctx: infra.kafka, topics: ["inventory"], service: "hub-test", logger });
    try {
      const productId = randomUUID();
      const events = received<InventoryEvent>(`hub round ${round}`);
      hub.on("inventory", productId, (event) => events.push(event));
      await publish(infra.kafka, infra.producer, "inventory", [change(productId, 1)]);
      await publish(infra.kafka, infra.producer, "inventory", [change(productId, 2)]);
      const seen = await events.waitFor((e) => e.data.available === 2, 20_000);
      expect(seen.map((e) => e.data.available)).toEqual([1, 2]);
    } finally {
      await hub.close();
    }
  }
});
