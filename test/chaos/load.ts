import { randomUUID } from "node:crypto";
import { signClientToken } from "../../common/identity.ts";
import { orderIdFor } from "../../common/orders/order-id.ts";
import { post, postRetrying, REFUSALS } from "./client.ts";

// The load: buyers placing regular orders (paying some, declining some, cancelling some) and a crowd buying in a
// flash sale, all through the router, while a fault is injected. Every answer a client got is written in the
// ledger, which is what the invariants hold the platform to.

export interface Scenario {
  /** Regular products and the units each started with (flash products included: sale stock came out of them). */
  products: { id: string; priceCents: number; priceVersion: number; initial: number }[];
  sale: { id: string; productId: string; quantity: number };
  /** A product no load touches, watched by the subscriptions across a router restart. */
  quiet: { id: string; priceCents: number; priceVersion: number; initial: number };
}

export interface LedgerOrder {
  kind: "regular" | "flash";
  userId: string;
  key: string;
  orderId: string;
  lines: { productId: string; quantity: number }[];
  /** ack: the client got the order; refused: a code saying no; failed: no interpretable answer within the retry budget. */
  outcome: "ack" | "refused" | "failed";
  code?: string;
  /** When the client first sent it and when it got its final answer (epoch ms, this process's clock). */
  sentAt: number;
  answeredAt: number;
}

export interface LedgerAction {
  orderId: string;
  action: "pay" | "decline" | "cancel";
  outcome: "ack" | "refused" | "failed";
  code?: string;
}

export interface Ledger {
  orders: LedgerOrder[];
  actions: LedgerAction[];
}

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }`;
const PURCHASE = `mutation($input: FlashPurchaseInput!) { flashPurchase(input: $input) { id status } }`;
const PAY = `mutation($id: ID!, $token: String!) { payOrder(id: $id, paymentToken: $token) { id status } }`;
const CANCEL = `mutation($id: ID!) { cancelOrder(id: $id) { id status } }`;
const CREATE_PRODUCT = `mutation($input: CreateProductInput!) { createProduct(input: $input) { id priceCents priceVersion } }`;
const CREATE_SALE = `mutation($input: CreateFlashSaleInput!) { createFlashSale(input: $input) { id } }`;

async function must(url: string, query: string, variables: Record<string, unknown>, token: string) {
  const answer = await post(url, query, variables, token, 30_000);
  if (answer.code) throw new Error(`${query.slice(0, 40)}... failed: ${answer.code} ${answer.message}`);
  return answer.data!;
}

/** Products with stock and an active flash sale, made by an admin through the router. */
export async function createScenario(url: string, jwtSecret: string, stocks: number[], sale: { stock: number; quantity: number }): Promise<Scenario> {
  const admin = await signClientToken(jwtSecret, `chaos-admin-${randomUUID()}`, ["admin"]);
  const product = async (initial: number) => {
    const input = {
      sku: `CHAOS-${randomUUID().slice(0, 12)}`,
      name: "Chaos item",
      description: "",
      priceCents: 1_000,
      currency: "USD",
      initialStock: initial,
    };
    return { ...((await must(url, CREATE_PRODUCT, { input }, admin)).createProduct as Omit<Scenario["quiet"], "initial">), initial };
  };
  const products = [];
  for (const stock of stocks) products.push(await product(stock));
  const flashProduct = await product(sale.stock);
  const quiet = await product(100);
  const now = Date.now();
  const saleInput = {
    name: `Chaos ${randomUUID().slice(0, 8)}`,
    startsAt: new Date(now - 1_000).toISOString(),
    endsAt: new Date(now + 3_600_000).toISOString(),
    perUserLimit: 2,
    items: [{ productId: flashProduct.id, quantity: sale.quantity, salePriceCents: 500 }],
  };
  const { createFlashSale } = await must(url, CREATE_SALE, { input: saleInput }, admin);
  return { products: [...products, flashProduct], sale: { id: createFlashSale.id, productId: flashProduct.id, quantity: sale.quantity }, quiet };
}

export interface LoadOptions {
  url: string;
  jwtSecret: string;
  scenario: Scenario;
  /** Concurrent buyers placing regular orders (default 6). */
  buyers?: number;
  /** Buyers per flash crowd wave, one wave a second (default 25). */
  crowd?: number;
  /** How long a client keeps retrying an answer it cannot interpret, with the same key (default 40 s). */
  retryBudgetMs?: number;
}

/** Starts the load; `stop()` ends it and resolves once every request in flight got its final answer. */
export function startLoad(options: LoadOptions) {
  const { url, jwtSecret, scenario } = options;
  const budget = options.retryBudgetMs ?? 40_000;
  const ledger: Ledger = { orders: [], actions: [] };
  const run = randomUUID().slice(0, 8);
  const tokens = new Map<string, Promise<string>>();
  const tokenOf = (userId: string) => tokens.get(userId) ?? tokens.set(userId, signClientToken(jwtSecret, userId)).get(userId)!;
  const random = (n: number) => Math.floor(Math.random() * n);
  const regular = scenario.products.filter((p) => p.id !== scenario.sale.productId);
  let stopped = false;
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>) => {
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
    return promise;
  };

  async function settle(orderId: string, userId: string) {
    const roll = Math.random();
    const [action, query, variables] =
      roll < 0.4
        ? (["pay", PAY, { id: orderId, token: "tok_visa" }] as const)
        : roll < 0.5
          ? (["decline", PAY, { id: orderId, token: "tok_declined" }] as const)
          : roll < 0.65
            ? (["cancel", CANCEL, { id: orderId }] as const)
            : ([null, "", {}] as const);
    if (!action) return;
    const answer = await postRetrying(url, query, variables, await tokenOf(userId), budget);
    ledger.actions.push({ orderId, action, outcome: outcomeOf(answer.code), code: answer.code });
  }

  async function place(kind: LedgerOrder["kind"], userId: string, lines: LedgerOrder["lines"]) {
    const key = `${run}-${randomUUID()}`;
    const orderId = orderIdFor(userId, key);
    const [query, variables] =
      kind === "flash"
        ? [PURCHASE, { input: { flashSaleId: scenario.sale.id, productId: lines[0]!.productId, quantity: lines[0]!.quantity, idempotencyKey: key } }]
        : [
            PLACE,
            {
              input: {
                idempotencyKey: key,
                items: lines.map((l) => {
                  const p = scenario.products.find((q) => q.id === l.productId)!;
                  return { ...l, expectedPriceCents: p.priceCents, priceVersion: p.priceVersion };
                }),
              },
            },
          ];
    const sentAt = Date.now();
    const answer = await postRetrying(url, query, variables, await tokenOf(userId), budget);
    const got = answer.data?.placeOrder?.id ?? answer.data?.flashPurchase?.id;
    const outcome = outcomeOf(answer.code);
    ledger.orders.push({ kind, userId, key, orderId: got ?? orderId, lines, outcome, code: answer.code, sentAt, answeredAt: Date.now() });
    if (outcome === "ack") await settle(got ?? orderId, userId);
  }

  async function buyer(n: number) {
    while (!stopped) {
      const first = regular[random(regular.length)]!;
      const lines = [{ productId: first.id, quantity: 1 + random(3) }];
      const second = regular[random(regular.length)]!;
      if (Math.random() < 0.2 && second.id !== first.id) lines.push({ productId: second.id, quantity: 1 });
      await track(place("regular", `chaos-buyer-${run}-${n}-${random(50)}`, lines));
    }
  }

  let wave = 0;
  const crowdTimer = setInterval(() => {
    wave++;
    for (let i = 0; i < (options.crowd ?? 25); i++)
      void track(place("flash", `chaos-crowd-${run}-${wave}-${i}`, [{ productId: scenario.sale.productId, quantity: 1 }]));
  }, 1_000);
  const loops = Array.from({ length: options.buyers ?? 6 }, (_, n) => buyer(n));

  return {
    ledger,
    async stop() {
      stopped = true;
      clearInterval(crowdTimer);
      await Promise.all(loops);
      while (inFlight.size) await Promise.all([...inFlight]);
      return ledger;
    },
  };
}

const outcomeOf = (code: string | undefined): LedgerOrder["outcome"] => (!code ? "ack" : REFUSALS.has(code) ? "refused" : "failed");
