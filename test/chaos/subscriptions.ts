import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { IDENTITY_HEADER, signInternalIdentity } from "../../common/identity.ts";
import type { Platform } from "./platform.ts";
import type { Scenario } from "./load.ts";

// Live subscriptions across a router restart: clients keep their subscription through the restart (graphql-ws
// reconnects and subscribes again), and the first value after reconnecting must be the current one. To tell the
// current value from a stale one, the watched product changes while the router is down (an order placed at the
// order subgraph directly), so only a fresh read can show it.

const STOCK = `subscription($ids: [ID!]!) { stockChanged(productIds: $ids) { productId available reserved sold } }`;
const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;

interface Watcher {
  client: Client;
  values: { available: number; reserved: number; sold: number }[];
  connections: number;
}

function watch(routerUrl: string, productId: string): Watcher {
  const watcher: Watcher = { client: null as unknown as Client, values: [], connections: 0 };
  watcher.client = createClient({
    url: routerUrl.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: () => new Promise((r) => setTimeout(r, 300)),
    on: { connected: () => void watcher.connections++ },
  });
  watcher.client.subscribe(
    { query: STOCK, variables: { ids: [productId] } },
    {
      next: (result) => {
        const value = (result.data as { stockChanged?: Watcher["values"][number] } | undefined)?.stockChanged;
        if (value) watcher.values.push({ available: value.available, reserved: value.reserved, sold: value.sold });
      },
      error: () => undefined,
      complete: () => undefined,
    },
  );
  return watcher;
}

const until = async (what: string, check: () => boolean, ms: number) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/**
 * Opens `count` subscriptions on the quiet product, restarts the router, places one order for it while the router
 * is down, and reports how many clients got, as their first value after reconnecting, the value with that order.
 */
export async function restartRouterWithSubscriptions(platform: Platform, scenario: Scenario, internalSecret: string, count = 5) {
  const watchers = Array.from({ length: count }, () => watch(platform.routerUrl, scenario.quiet.id));
  try {
    await until("every subscription's first value", () => watchers.every((w) => w.values.length > 0), 20_000);
    const before = watchers.map((w) => w.values.length);
    const q = scenario.quiet;
    // While the router is down, one order for the quiet product at the order subgraph directly: the value the
    // clients must get first when they are back.
    await platform.restart("router", "SIGTERM", async () => {
      const identity = await signInternalIdentity({ user: { id: `chaos-quiet-${Date.now()}`, roles: [], isAdmin: false } }, internalSecret);
      const input = {
        idempotencyKey: `quiet-${Date.now()}`,
        items: [{ productId: q.id, quantity: 1, expectedPriceCents: q.priceCents, priceVersion: q.priceVersion }],
      };
      const placed = (await (
        await fetch(platform.url("order"), {
          method: "POST",
          headers: { "content-type": "application/json", [IDENTITY_HEADER]: identity },
          body: JSON.stringify({ query: PLACE, variables: { input } }),
        })
      ).json()) as { errors?: unknown };
      if (placed.errors) throw new Error(`order on the quiet product failed: ${JSON.stringify(placed.errors)}`);
    });
    await until(
      "every client to reconnect and get a value",
      () => watchers.every((w, i) => w.connections >= 2 && w.values.length > before[i]!),
      30_000,
    ).catch(() => undefined);
    const current = watchers.filter((w, i) => {
      const first = w.values[before[i]!];
      return !!first && first.reserved === 1 && first.available + first.reserved + first.sold === q.initial;
    });
    return { clients: count, reconnected: watchers.filter((w) => w.connections >= 2).length, current: current.length };
  } finally {
    await Promise.all(watchers.map((w) => w.client.dispose()));
  }
}
