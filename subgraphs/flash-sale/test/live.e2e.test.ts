import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { adminToken, gql, startStack, token, type Stack } from "../../../test/harness.ts";
import { received } from "../../../test/wait.ts";
import { createSale, END_SALE, purchaseInput, PURCHASE } from "./support.ts";
import { createProduct } from "../../../test/orders.ts";

// Through the router: the per-IP limit (the router tells the subgraph the client's address) and flashSaleChanged.
const IP_RATE = 3;
let stack: Stack;
let admin: string;
const clients: Client[] = [];
beforeAll(async () => {
  stack = await startStack({ flash: { ipRate: IP_RATE, ipBurst: IP_RATE } });
  admin = await adminToken();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await stack.close();
});

test("one client address gets FLASH_IP_RATE purchases per second; a forged x-client-ip header changes nothing", async () => {
  const product = await createProduct(stack.gql, admin, 50);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 40 }], { perUserLimit: 1 });
  const buyers = await Promise.all(Array.from({ length: IP_RATE + 3 }, () => token(`u-${randomUUID()}`)));
  const started = Date.now();
  const results = await Promise.all(
    buyers.map((t, i) =>
      gql(stack.routerUrl, PURCHASE, { input: purchaseInput(sale.id, product.id) }, { token: t, headers: { "x-client-ip": `203.0.113.${i}` } }),
    ),
  );
  // The burst, plus what the rate refilled while the requests were arriving (none on an idle machine).
  const refilled = Math.floor(((Date.now() - started) * IP_RATE) / 1000);
  const accepted = results.filter((r) => !r.errors).length;
  expect(accepted).toBeGreaterThanOrEqual(IP_RATE);
  expect(accepted).toBeLessThanOrEqual(Math.min(IP_RATE + refilled, buyers.length - 1));
  for (const refused of results.filter((r) => r.errors)) {
    expect(refused.errors![0]!.extensions).toMatchObject({ code: "RATE_LIMITED", retryAfterMs: expect.any(Number) });
  }
  // Refused before the script: the sale's counters saw only the accepted purchases.
  const live = await stack.gql(`query($id: ID!) { flashSale(id: $id) { items { remaining } } }`, { id: sale.id });
  expect(live.data!.flashSale.items[0].remaining).toBe(40 - accepted);
});

test("flashSaleChanged: the current state first, then remaining counts as they change, then ENDED", async () => {
  const product = await createProduct(stack.gql, admin, 20);
  const sale = await createSale(stack.gql, admin, [{ productId: product.id, quantity: 10 }], { perUserLimit: 5 });
  const client = createClient({ url: stack.routerUrl.replace(/^http/, "ws"), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  clients.push(client);
  // The current state comes first, sent once the subgraph has subscribed to the sale's Redis channel
  // (sale-changes.ts), so every change made after it arrives is delivered.
  const live = received<{ state: string; items: { remaining: number; product: { id: string } }[] }>("flashSaleChanged");
  const stop = client.subscribe(
    { query: `subscription($id: ID!) { flashSaleChanged(id: $id) { id state items { remaining product { id } } } }`, variables: { id: sale.id } },
    {
      next: (result) => (result.errors ? live.end(`failed with ${JSON.stringify(result.errors)}`) : live.push((result.data as any).flashSaleChanged)),
      error: (error) => live.end(`failed with ${error instanceof Error ? error.message : JSON.stringify(error)}`),
      complete: () => live.end("completed"),
    },
  );
  const remainingIs = (n: number) => (s: (typeof live.events)[number]) => s.items[0]!.remaining === n;
  await live.first();
  // Time passing, not hoping: this address's per-IP bucket, which the test before emptied, refills at IP_RATE
  // per second, and the two purchases below come from the same address and must not be refused by it.
  await new Promise((r) => setTimeout(r, 1_000));
  const user = await token(`u-${randomUUID()}`);
  expect((await stack.gql(PURCHASE, { input: purchaseInput(sale.id, product.id, 2) }, { token: user })).errors).toBeUndefined();
  await live.waitFor(remainingIs(8));
  expect((await stack.gql(PURCHASE, { input: purchaseInput(sale.id, product.id, 3) }, { token: user })).errors).toBeUndefined();
  await live.waitFor(remainingIs(5));
  await stack.gql(END_SALE, { id: sale.id }, { token: admin });
  // Ending is two changes: the sale stops selling (ENDED), then its unsold units go back (remaining 0).
  const seen = await live.waitFor((s) => s.state === "ENDED" && s.items[0]!.remaining === 0, 20_000);
  stop();

  expect(seen[0]).toMatchObject({ state: "ACTIVE", items: [{ remaining: 10, product: { id: product.id } }] });
  const remaining = seen.map((s) => s.items[0]!.remaining);
  expect(remaining).toContain(8);
  expect(remaining).toContain(5);
  expect(seen.at(-1)).toMatchObject({ state: "ENDED", items: [{ remaining: 0 }] });
  // Never an older count after a newer one: remaining only went down here.
  expect([...remaining].sort((a, b) => b - a)).toEqual(remaining);
});
