import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { chromium, type Browser, type Page } from "playwright-core";
import { createServices, SERVICE_NAMES, withFreePorts, type Services } from "../scripts/services.ts";
import { ROOT } from "../scripts/env.ts";
import { freePort } from "../common/ports.ts";
import { adminToken, config, gql, logger, token } from "./harness.ts";
import { createProduct, line, orderInput, PAY_ORDER, PLACE_ORDER, type TestProduct } from "./orders.ts";
import { eventually } from "./eventually.ts";
import { createSale, purchaseInput, PURCHASE } from "../subgraphs/flash-sale/test/support.ts";

// The storefront as `npm start` serves it (web/dist behind web/server, the platform as separate processes),
// driven in Debian's Chromium through playwright-core. The page's origin differs from the router's, so every
// request crosses CORS as from a deployed web app. Other shoppers act through the router's HTTP API.
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let services: Services;
let browser: Browser;
let admin: string;
const mailDir = mkdtempSync(path.join(tmpdir(), "flashgraph-storefront-mail-"));

beforeAll(async () => {
  // `npm run build:web`, in a process of its own: Vite's bundler does not run inside jest's module sandbox.
  execFileSync(process.execPath, ["--import", "tsx", `${ROOT}web/build.ts`], { cwd: ROOT, stdio: "pipe" });
  const env = await withFreePorts({
    ...process.env,
    LOG_LEVEL: config.LOG_LEVEL === "silent" ? "warn" : config.LOG_LEVEL,
    PAYMENT_LATENCY_MS: "50",
    FLASH_IP_RATE: "1000",
    // Every browser and API client here is on loopback: the per-address limits would measure this test.
    RATE_LIMIT_EXEMPT: "127.0.0.0/8,::1/128",
    MAIL_DIR: mailDir,
  });
  services = createServices({ env, logger, output: "capture", storefront: true, healthTimeoutMs: 90_000, killAfterMs: 20_000 });
  [browser] = await Promise.all([chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] }), services.start()]);
  admin = await adminToken();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await services?.stop();
  rmSync(mailDir, { recursive: true, force: true });
}, 40_000);

const api = (query: string, variables?: Record<string, unknown>, opts?: { token?: string }) => gql(services.routerUrl, query, variables, opts);
const outputs = () => [...SERVICE_NAMES, "web"].map((name) => `--- ${name}\n${services.output(name).slice(-1_500)}`).join("\n");

/** Another shopper buys through the API (not the page under test). */
async function someoneBuys(product: TestProduct, quantity: number) {
  const res = await api(PLACE_ORDER, { input: orderInput([line(product, quantity)]) }, { token: await token(`other-${randomUUID()}`) });
  if (res.errors) throw new Error(JSON.stringify(res.errors));
  return res.data!.placeOrder as { id: string; status: string };
}

const pageErrors = new WeakMap<Page, string[]>();

interface Opened {
  page: Page;
  /** Console errors and uncaught exceptions of the page so far. */
  errors: string[];
}

/** A fresh browser context (no shared storage) on a storefront path, signed in as `user` through `#token=` when given. */
async function open(pathname: string, options: { user?: string; viewport?: { width: number; height: number } } = {}): Promise<Opened> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on("console", (message) => void (message.type() === "error" && errors.push(message.text())));
  page.on("pageerror", (error) => void errors.push(String(error)));
  const fragment = options.user ? `#token=${await token(options.user)}` : "";
  await page.goto(`${services.webUrl}${pathname.replace(/^\//, "")}${fragment}`);
  await textIs(page, '[data-testid="connection"]', "live");
  return { page, errors };
}

/**
 * Waits until what `read` takes from the first element matching `selector` (its text by default) passes
 * `ok`; fails saying what it last saw. Polls from the test, so the page runs no test code.
 */
async function until(page: Page, selector: string, ok: (seen: string | null) => boolean, what: string, timeout = 20_000, read = "text") {
  const element = page.locator(selector).first();
  const look = () => (read === "text" ? element.textContent({ timeout: 500 }) : element.getAttribute(read, { timeout: 500 })).catch(() => null);
  const deadline = Date.now() + timeout;
  let seen: string | null = null;
  while (Date.now() < deadline) {
    seen = (await look())?.trim() ?? null;
    if (ok(seen)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  const logged = pageErrors.get(page)?.join("\n") || "(none)";
  const socket = await page
    .locator('[data-testid="connection"]')
    .getAttribute("title", { timeout: 500 })
    .catch(() => null);
  throw new Error(
    `${selector}: expected ${what}, saw ${JSON.stringify(seen)} at ${page.url()} (socket: ${socket})\npage errors:\n${logged}\n${outputs()}`,
  );
}
const textIs = (page: Page, selector: string, text: string, timeout?: number) => until(page, selector, (seen) => seen === text, `"${text}"`, timeout);
const textHas = (page: Page, selector: string, part: string) => until(page, selector, (seen) => !!seen?.includes(part), `to contain "${part}"`);
const stateIs = (page: Page, selector: string, state: string, timeout?: number) =>
  until(page, selector, (seen) => seen === state, `data-state "${state}"`, timeout, "data-state");
/** With STOREFRONT_SCREENSHOTS=1, saves the page as docs/img/storefront-<name>.png (the README shows them). */
async function shot(page: Page, name: string) {
  if (process.env.STOREFRONT_SCREENSHOTS) await page.screenshot({ path: `${ROOT}docs/img/storefront-${name}.png`, fullPage: true });
}
const text = (page: Page, selector: string) => page.locator(selector).first().innerText();

test("the catalogue shows each product with its price and a live available count, and finds a new product by search", async () => {
  const name = `Lamp ${randomUUID().slice(0, 8)}`;
  const product = await createProduct(api, admin, 9, { name, priceCents: 4_250 });
  const { page, errors } = await open("/");
  await page.fill('[data-testid="search"]', name);
  const card = `[data-testid="product-${product.id}"]`;
  await textIs(page, `${card} [data-testid="available"]`, "9");
  expect(await text(page, card)).toContain("42.50");

  await someoneBuys(product, 3);
  await textIs(page, `${card} [data-testid="available"]`, "6");
  await page.fill('[data-testid="search"]', "");
  await shot(page, "catalogue");
  await page.click(`${card} a`);
  await textIs(page, '[data-testid="product-name"]', name);
  expect(new URL(page.url()).pathname).toBe(`/products/${product.id}`);
  expect(errors).toEqual([]);
}, 60_000);

test("on a phone: sign in as a user, watch stock move while another client buys, buy, pay, and see CONFIRMED live", async () => {
  const product = await createProduct(api, admin, 20, { priceCents: 1_500 });
  const { page, errors } = await open(`/products/${product.id}`, { viewport: { width: 390, height: 844 } });
  await page.fill('[data-testid="sign-in-user"]', `shopper-${randomUUID().slice(0, 8)}`);
  await page.click('[data-testid="sign-in"]');
  await page.waitForSelector('[data-testid="signed-in-as"]');
  await textIs(page, '[data-testid="connection"]', "live");
  await textIs(page, '[data-testid="available"]', "20");

  const buyAt = await page.locator('[data-testid="buy"]').boundingBox();
  await someoneBuys(product, 11);
  await textIs(page, '[data-testid="available"]', "9");
  // The count went from two digits to one: nothing around it moved.
  expect(await page.locator('[data-testid="buy"]').boundingBox()).toEqual(buyAt);

  await page.fill('[data-testid="quantity"]', "2");
  await page.click('[data-testid="buy"]');
  await textIs(page, '[data-testid="order-status"]', "RESERVED");
  expect(await text(page, '[data-testid="order-total"]')).toContain("30.00");
  expect(await text(page, '[data-testid="countdown"]')).toMatch(/^1[45]:\d\d$/);
  await textIs(page, '[data-testid="available"]', "7");

  await shot(page, "product-reserved-phone");
  await page.click('[data-testid="pay"]');
  await textIs(page, '[data-testid="order-status"]', "CONFIRMED");
  // Usable at 390 px: nothing wider than the screen.
  expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
  expect(errors).toEqual([]);
}, 60_000);

test("a declined card cancels the order, the page says so, and the units are back on sale", async () => {
  const product = await createProduct(api, admin, 5);
  const { page, errors } = await open(`/products/${product.id}`, { user: `decline-${randomUUID()}` });
  await textIs(page, '[data-testid="available"]', "5");
  await page.click('[data-testid="buy"]');
  await textIs(page, '[data-testid="order-status"]', "RESERVED");
  await textIs(page, '[data-testid="available"]', "4");
  await page.selectOption('[data-testid="card"]', "tok_declined");
  await page.click('[data-testid="pay"]');
  await textIs(page, '[data-testid="order-status"]', "CANCELLED");
  expect(await text(page, '[data-testid="order-message"]')).toContain("declined");
  await textIs(page, '[data-testid="available"]', "5");
  expect(errors).toEqual([]);
}, 60_000);

test("a price change is shown and the buyer is asked again; too large a quantity says how many are left", async () => {
  const product = await createProduct(api, admin, 3, { priceCents: 1_000 });
  const { page, errors } = await open(`/products/${product.id}`, { user: `price-${randomUUID()}` });
  await textIs(page, '[data-testid="available"]', "3");
  const update = await api(
    `mutation($id: ID!) { updateProductPrice(id: $id, priceCents: 1250) { priceVersion } }`,
    { id: product.id },
    { token: admin },
  );
  expect(update.errors).toBeUndefined();

  await page.click('[data-testid="buy"]');
  await textHas(page, '[data-testid="buy-message"]', "price changed");
  expect(await text(page, '[data-testid="price"]')).toContain("12.50");
  await page.click('[data-testid="buy"]');
  await textIs(page, '[data-testid="order-status"]', "RESERVED");
  expect(await text(page, '[data-testid="order-total"]')).toContain("12.50");

  await page.fill('[data-testid="quantity"]', "5");
  await page.click('[data-testid="buy"]');
  await textHas(page, '[data-testid="buy-message"]', "2 left");
  expect(errors).toEqual([]);
}, 60_000);

test("a flash sale counts down, sells out live while others buy, and explains the per-user limit", async () => {
  const product = await createProduct(api, admin, 10, { priceCents: 2_000 });
  const sale = await createSale(api, admin, [{ productId: product.id, quantity: 3, salePriceCents: 900 }], {
    startsAt: new Date(Date.now() + 8_000).toISOString(),
  });
  const { page, errors } = await open(`/flash-sales/${sale.id}`, { user: `flash-${randomUUID()}` });
  expect(await text(page, '[data-testid="sale-state"]')).toMatch(/Starts in/);
  expect(await text(page, '[data-testid="per-user-limit"]')).toContain("At most 2 per customer");
  await textIs(page, '[data-testid="flash-remaining"]', "3");
  await stateIs(page, '[data-testid="sale-state"]', "ACTIVE");

  await page.click('[data-testid="flash-buy"]');
  await textIs(page, '[data-testid="order-status"]', "RESERVED");
  await textIs(page, '[data-testid="flash-remaining"]', "2");
  const other = await api(PURCHASE, { input: purchaseInput(sale.id, product.id, 2) }, { token: await token(`other-${randomUUID()}`) });
  expect(other.errors).toBeUndefined();
  await textIs(page, '[data-testid="flash-remaining"]', "0");
  expect(await text(page, ".sold-out")).toContain("sold out");
  expect(await page.locator('[data-testid="flash-buy"]').isDisabled()).toBe(true);
  await shot(page, "flash-sale");
  await page.click('[data-testid="pay"]');
  await textIs(page, '[data-testid="order-status"]', "CONFIRMED");
  expect(errors).toEqual([]);
}, 60_000);

test("/orders lists the signed-in user's orders and follows their status live", async () => {
  const user = `orders-${randomUUID()}`;
  const userToken = await token(user);
  const product = await createProduct(api, admin, 5);
  const placed = await api(PLACE_ORDER, { input: orderInput([line(product, 1)]) }, { token: userToken });
  const order = placed.data!.placeOrder as { id: string };
  const { page, errors } = await open("/orders", { user });
  await textIs(page, `[data-testid="order-${order.id}"] [data-testid="order-status"]`, "RESERVED");

  expect((await api(PAY_ORDER, { id: order.id, token: "tok_visa" }, { token: userToken })).errors).toBeUndefined();
  await textIs(page, `[data-testid="order-${order.id}"] [data-testid="order-status"]`, "CONFIRMED");
  await shot(page, "orders");
  expect(errors).toEqual([]);
}, 60_000);

test("the development sign-in endpoint does not exist in production", async () => {
  const port = await freePort();
  const secret = (label: string) => `${label}-${randomUUID()}${randomUUID()}`;
  const child = spawn(process.execPath, ["--import", "tsx", `${ROOT}web/server/main.ts`], {
    cwd: ROOT,
    stdio: "ignore",
    env: {
      ...process.env,
      NODE_ENV: "production",
      WEB_PORT: String(port),
      JWT_SECRET: secret("jwt"),
      INTERNAL_SECRET: secret("internal"),
      PAYMENT_WEBHOOK_SECRET: secret("webhook"),
      CORS_ORIGINS: `http://127.0.0.1:${port}`,
      WEB_GRAPHQL_URL: "https://api.shop.example/graphql",
    },
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    const publicConfig = await eventually(
      async () => (await fetch(`${base}/config.json`).catch(() => null))?.json(),
      20_000,
      "the production storefront",
    );
    expect(publicConfig).toEqual({ graphqlUrl: "https://api.shop.example/graphql", devSignIn: false });
    const res = await fetch(`${base}/dev/token`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"sub":"alice"}' });
    expect(res.status).toBe(404);
    expect(await res.text()).not.toMatch(/eyJ/);
    // In development the same request signs a token (the "Sign in as" box).
    const dev = await fetch(`${services.webUrl}dev/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"sub":"alice"}',
    });
    expect(((await dev.json()) as { token: string }).token).toMatch(/^eyJ/);
  } finally {
    child.kill("SIGTERM");
  }
}, 30_000);

test("after a router restart the page says it is reconnecting, then recovers by itself and is live again", async () => {
  const product = await createProduct(api, admin, 8);
  const { page, errors } = await open(`/products/${product.id}`, { user: `restart-${randomUUID()}` });
  await textIs(page, '[data-testid="available"]', "8");

  const sawReconnecting = stateIs(page, '[data-testid="connection"]', "reconnecting", 30_000);
  await services.restart("router");
  await sawReconnecting;
  await textIs(page, '[data-testid="connection"]', "live", 30_000);
  await someoneBuys(product, 3);
  await textIs(page, '[data-testid="available"]', "5");
  await page.click('[data-testid="buy"]');
  await textIs(page, '[data-testid="order-status"]', "RESERVED");
  // While the router was down the browser logged its failed socket attempts; nothing else.
  expect(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e))).toEqual([]);
}, 90_000);
