import { afterAll, beforeAll, expect, jest, test } from "@jest/globals";
import { connectTestInfra, type Infra } from "../../test/harness.ts";

// kafkajs 2.2.4 re-armed a 1 ms "pending requests" timer on every broker connection forever, once the
// connection had answered one request (tulios/kafkajs#1556): every service woke about a thousand times a
// second per connection, idle or not. patches/kafkajs+2.2.4.patch (applied by `npm install`) stops that.
let infra: Infra;
beforeAll(async () => {
  infra = await connectTestInfra();
});
afterAll(() => infra.close());

test("an idle, connected producer arms no timers (the kafkajs request-queue patch is applied)", async () => {
  // Connecting the producer had the broker answer requests (API versions, metadata): the point after which
  // the unpatched queue starts its loop.
  await new Promise((r) => setTimeout(r, 50));

  const spy = jest.spyOn(globalThis, "setTimeout");
  try {
    await new Promise((resolve) => setImmediate(resolve));
    const before = spy.mock.calls.length;
    await new Promise((r) => setTimeout(r, 300)); // counts once itself
    // Unpatched: one call per millisecond, about 300 here. Patched: the test's own timer and nothing else.
    expect(spy.mock.calls.length - before).toBeLessThan(10);
  } finally {
    spy.mockRestore();
  }
});
