import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, expect, test } from "@jest/globals";
import { config, logger, startRouter, token } from "./harness.ts";
import { healthDuring } from "./health-during.ts";
import { freePort } from "../common/ports.ts";
import { parseCidrList } from "../common/client-address.ts";
import { createRateLimitRedis, type RateLimitOptions } from "../router/src/rate-limit.ts";
import type { Redis } from "../common/redis.ts";

// The router's per-IP and per-user request rates (router/src/rate-limit.ts) against the file's own Redis
// database. Requests come from real loopback peers (127.0.0.1, 127.0.0.2) so addresses differ as they would on
// the network; the subgraph behind the router is a stub that records the client address it was told.
const QUERY = "{ products(first: 1) { nodes { id } } }";
const seenClientIps: string[] = [];
const subgraph = http.createServer((req, res) => {
  seenClientIps.push(String(req.headers["x-client-ip"]));
  req.resume().on("end", () => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ data: { products: { nodes: [] } } }));
  });
});
let subgraphUrl: string;
const redises: Redis[] = [];
const routers: { close: () => Promise<unknown> }[] = [];

beforeAll(async () => {
  await new Promise<void>((resolve) => subgraph.listen(0, "127.0.0.1", resolve));
  subgraphUrl = `http://127.0.0.1:${(subgraph.address() as net.AddressInfo).port}/graphql`;
});
afterAll(async () => {
  for (const router of routers) await router.close();
  redises.forEach((r) => r.disconnect());
  await new Promise((resolve) => subgraph.close(resolve));
});

/** A router with limits on; `clock` moves the buckets' time (tests never wait on real refills). */
async function limitedRouter(limits: Partial<RateLimitOptions> & { trustedProxies?: string; redisUrl?: string; timeoutMs?: number } = {}) {
  const clock = { now: 1_000_000 };
  const redis = createRateLimitRedis(limits.redisUrl ?? config.REDIS_URL, limits.timeoutMs ?? 100, logger);
  redises.push(redis);
  // Until the connection is up the limits fail open (no offline queue), and a frozen clock would keep them open.
  if (!limits.redisUrl) {
    await new Promise((resolve) => (redis.status === "ready" ? resolve(null) : redis.once("ready", resolve)));
    await redis.flushdb();
  }
  const router = await startRouter(
    { product: subgraphUrl },
    {
      subgraphBatching: "none",
      trustedProxies: parseCidrList(limits.trustedProxies ?? ""),
      rateLimit: { redis, ipRate: 0, ipBurst: 0, userRate: 0, userBurst: 0, exempt: parseCidrList(""), now: () => clock.now, ...limits },
    },
  );
  routers.push(router);
  return { url: router.url, clock, redis, metrics: () => fetch(new URL("/metrics", router.url)).then((r) => r.text()) };
}

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

/** POSTs the query from the loopback address `from`, as a user (`as`) or anonymously. */
function post(url: string, options: { from?: string; as?: string; headers?: Record<string, string>; agent?: http.Agent } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
    if (options.as) headers.authorization = `Bearer ${options.as}`;
    const req = http.request(url, { method: "POST", headers, localAddress: options.from ?? "127.0.0.1", agent: options.agent ?? false }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode!, retryAfter: res.headers["retry-after"], body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end(JSON.stringify({ query: QUERY }));
  });
}

const statuses = (answers: Answer[]) => answers.map((a) => a.status);
async function sequence(n: number, send: () => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < n; i++) answers.push(await send());
  return answers;
}

test("per IP: the burst passes, the next is RATE_LIMITED with retryAfterMs, and it passes once that time has gone", async () => {
  const router = await limitedRouter({ ipRate: 5, ipBurst: 3 });
  expect(statuses(await sequence(3, () => post(router.url)))).toEqual([200, 200, 200]);
  const refused = await post(router.url);
  expect(refused.status).toBe(429);
  expect(refused.retryAfter).toBe("1");
  expect(refused.body.errors![0]).toEqual({
    message: "Too many requests from this address.",
    extensions: { code: "RATE_LIMITED", retryAfterMs: 200 },
  });
  // Another address has a bucket of its own.
  expect((await post(router.url, { from: "127.0.0.2" })).status).toBe(200);
  router.clock.now += 199;
  expect((await post(router.url)).body.errors![0]!.extensions).toEqual({ code: "RATE_LIMITED", retryAfterMs: 1 });
  router.clock.now += 1;
  expect((await post(router.url)).status).toBe(200);
  expect(await router.metrics()).toMatch(/router_rate_limited_total\{scope="ip",service="router"\} 2/);
});

test("per user: one user's bucket is the same from every address, and other users and anonymous callers are unaffected", async () => {
  const router = await limitedRouter({ userRate: 1, userBurst: 2, ipRate: 1_000, ipBurst: 1_000 });
  const [alice, bob] = await Promise.all([token("alice"), token("bob")]);
  expect((await post(router.url, { as: alice, from: "127.0.0.1" })).status).toBe(200);
  expect((await post(router.url, { as: alice, from: "127.0.0.2" })).status).toBe(200);
  const refused = await post(router.url, { as: alice, from: "127.0.0.3" });
  expect(refused.status).toBe(429);
  expect(refused.body.errors![0]).toEqual({
    message: "Too many requests from this user.",
    extensions: { code: "RATE_LIMITED", retryAfterMs: 1_000 },
  });
  expect(statuses([await post(router.url, { as: bob, from: "127.0.0.3" }), await post(router.url, { from: "127.0.0.3" })])).toEqual([200, 200]);
  // A token that does not verify names no user: it counts against its address only, never against "alice".
  expect((await post(router.url, { as: `${alice.slice(0, -2)}xx` })).status).toBe(200);
});

test("a request refused by one bucket takes nothing from the other", async () => {
  const router = await limitedRouter({ userRate: 1, userBurst: 1, ipRate: 1, ipBurst: 3 });
  const alice = await token("alice-nat");
  expect(statuses(await sequence(3, () => post(router.url, { as: alice })))).toEqual([200, 429, 429]);
  // The two refusals left the address's bucket alone: its neighbours behind the same NAT still have 2 tokens.
  expect(statuses(await sequence(3, () => post(router.url)))).toEqual([200, 200, 429]);
});

test("RATE_LIMIT_EXEMPT skips the per-IP limit of the addresses it names, but not the per-user limit", async () => {
  const router = await limitedRouter({ ipRate: 1, ipBurst: 1, userRate: 1, userBurst: 2, exempt: parseCidrList("127.0.0.1/32") });
  expect(statuses(await sequence(10, () => post(router.url)))).toEqual(Array(10).fill(200));
  expect(statuses(await sequence(2, () => post(router.url, { from: "127.0.0.2" })))).toEqual([200, 429]);
  const carol = await token("carol");
  expect(statuses(await sequence(3, () => post(router.url, { as: carol })))).toEqual([200, 200, 429]);
});

test("X-Forwarded-For counts only from a trusted proxy; the subgraph is told the same address", async () => {
  const direct = await limitedRouter({ ipRate: 1, ipBurst: 1 });
  seenClientIps.length = 0;
  expect((await post(direct.url, { headers: { "x-forwarded-for": "198.51.100.1" } })).status).toBe(200);
  // A spoofed header from an untrusted peer changes nothing: same socket address, same (empty) bucket.
  expect((await post(direct.url, { headers: { "x-forwarded-for": "198.51.100.2" } })).status).toBe(429);
  expect(seenClientIps).toEqual(["127.0.0.1"]);

  const behindProxy = await limitedRouter({ ipRate: 1, ipBurst: 1, trustedProxies: "127.0.0.1/32" });
  seenClientIps.length = 0;
  const via = (forwardedFor: string) => post(behindProxy.url, { headers: { "x-forwarded-for": forwardedFor } });
  // The client may prepend anything; the proxy's own entry (the rightmost) names it.
  expect(statuses([await via("198.51.100.1"), await via("198.51.100.2"), await via("6.6.6.6, 198.51.100.1")])).toEqual([200, 200, 429]);
  expect(seenClientIps).toEqual(["198.51.100.1", "198.51.100.2"]);
  // A peer that is not the trusted proxy is its own client, whatever it forwards.
  expect((await post(behindProxy.url, { from: "127.0.0.2", headers: { "x-forwarded-for": "198.51.100.9" } })).status).toBe(200);
  expect(seenClientIps[2]).toBe("127.0.0.2");
});

test("an unreachable Redis: nothing is refused wholesale, the limits hold per process, every such request is counted", async () => {
  const closed = await limitedRouter({ ipRate: 1, ipBurst: 2, redisUrl: `redis://127.0.0.1:${await freePort()}` });
  expect(statuses(await sequence(4, () => post(closed.url)))).toEqual([200, 200, 429, 429]);
  expect(statuses(await sequence(2, () => post(closed.url, { from: "127.0.0.2" })))).toEqual([200, 200]);
  expect(await closed.metrics()).toMatch(/router_rate_limit_unavailable_total\{service="router"\} 6/);

  // A server that accepts connections and never answers (a hung Redis, a black-holed route).
  const sockets: net.Socket[] = [];
  const silent = net.createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  let hanging: Awaited<ReturnType<typeof limitedRouter>> | undefined;
  try {
    const router = await limitedRouter({ ipRate: 1, ipBurst: 2, redisUrl: `redis://127.0.0.1:${(silent.address() as net.AddressInfo).port}` });
    hanging = router;
    const answers = await sequence(3, () => post(router.url));
    expect(statuses(answers)).toEqual([200, 200, 429]);
    expect(answers[2]!.body.errors![0]!.extensions).toEqual({ code: "RATE_LIMITED", retryAfterMs: 1_000 });
    expect(await router.metrics()).toMatch(/router_rate_limit_unavailable_total\{service="router"\} 3/);
  } finally {
    hanging?.redis.disconnect(); // first, or it reconnects to the silent server while that closes
    sockets.forEach((s) => s.destroy());
    await new Promise((resolve) => silent.close(resolve));
  }
});

test("a retry storm from one client is refused cheaply while /health keeps answering", async () => {
  // Redis gets a second to answer: on a loaded machine (CI shares it with other suites) a 100 ms timeout sends
  // checks to the per-process stand-in, whose own buckets would admit a second burst (the test above covers that stand-in).
  const router = await limitedRouter({ ipRate: 5, ipBurst: 5, timeoutMs: 1_000 });
  // A client retrying as fast as it can, on 8 kept-alive connections (the client shares this process's event
  // loop with the router and the probes, so more connections would measure the client, not the router).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const { result, slowestMs, probes } = await healthDuring(router.url, async () => {
    const tally: Record<number, number> = {};
    const worker = async () => {
      for (let i = 0; i < 150; i++) {
        const { status } = await post(router.url, { agent });
        tally[status] = (tally[status] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    return tally;
  });
  agent.destroy();
  // The clock stands still: the burst is admitted out of 1 200, and no more than once again should a slow
  // moment of this busy process have sent a check to the per-process stand-in (local-buckets.ts).
  expect(result[200]! + result[429]!).toBe(1_200);
  expect(result[200]).toBeGreaterThanOrEqual(5);
  expect(result[200]).toBeLessThanOrEqual(10);
  expect(probes).toBeGreaterThan(0);
  expect(slowestMs).toBeLessThan(200);
});
