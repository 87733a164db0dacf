import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import autocannon from "autocannon";
import { loadConfig } from "../common/config.ts";
import { createLogger } from "../common/logger.ts";
import { signClientToken } from "../common/identity.ts";
import { ROOT } from "../scripts/env.ts";
import { benchEnv, cpuMsOf, percentile, startPlatform } from "./platform.ts";
import type { AttackOutcome } from "./attacks.ts";

// `npm run bench:attack`: the read mix of bench:read through the router at BENCH_CONNECTIONS (50) connections,
// in alternating phases of BENCH_DURATION s (10) without and with a second load generator (attack-sender.ts,
// its own process) sending the attacks of bench/attacks.ts at BENCH_ATTACK_RATE (20) per second. BENCH_ROUNDS
// (3) pairs; each figure is the median over the rounds. Prints the normal traffic's throughput and p99 in both
// phases, their ratio, and how every attack was answered.
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ATTACK_RATE = Number(process.env.BENCH_ATTACK_RATE ?? 20);
const PRODUCTS = 50;
const log = createLogger("bench-attack", "info");

// The normal traffic comes from this machine; the limits under test are the operation limits, not the rate
// limiter, so loopback is exempt from the per-IP limits (API.md, RATE_LIMIT_EXEMPT).
const env = await benchEnv(log, { RATE_LIMIT_EXEMPT: "127.0.0.0/8,::1/128" });
const config = loadConfig(env);
const platform = await startPlatform(env);
const url = platform.url;

const admin = await signClientToken(config.JWT_SECRET, "bench-admin", ["admin"]);
const ids: string[] = [];
for (let i = 0; i < PRODUCTS; i++) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${admin}` },
    body: JSON.stringify({
      query: "mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }",
      variables: {
        input: {
          sku: `BENCH-ATK-${randomUUID().slice(0, 8)}`,
          name: `Attack bench ${i}`,
          description: "",
          priceCents: 100 + i,
          currency: "USD",
          initialStock: 1000,
        },
      },
    }),
  });
  ids.push(((await response.json()) as { data: { createProduct: { id: string } } }).data.createProduct.id);
}
const randomId = () => ids[Math.floor(Math.random() * ids.length)];
const MIX = [
  () => ({ query: "{ products(first: 20) { nodes { name priceCents stock { available } } } }" }),
  () => ({ query: "query($id: ID!) { product(id: $id) { name priceCents stock { available } } }", variables: { id: randomId() } }),
  () => ({ query: "query($id: ID!) { product(id: $id) { name priceCents } }", variables: { id: randomId() } }),
];
let turn = 0;
const normal = (duration: number) =>
  autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    requests: [
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        setupRequest: (req) => ({ ...req, body: JSON.stringify(MIX[turn++ % MIX.length]!()) }),
      },
    ],
  });

const sender = fork(`${ROOT}bench/attack-sender.ts`, [url, String(ATTACK_RATE)], { execArgv: ["--import", "tsx"], stdio: "inherit" });
await new Promise((resolve) => sender.once("message", resolve));
const underAttack = async () => {
  const phase = await measured(async () => {
    sender.send("start");
    const result = await normal(DURATION);
    sender.send("stop");
    return result;
  });
  const outcomes = await new Promise<AttackOutcome[]>((resolve) => sender.once("message", (m) => resolve(m as AttackOutcome[])));
  return { phase, outcomes };
};

interface Phase {
  rps: number;
  p99: number;
  errors: number;
  /** Router CPU per normal request, in µs (the attacks' share included). */
  routerUs: number;
  /** CPU the attack sender used, in % of one core: load the normal traffic shares the machine with. */
  senderPct: number;
}
/** Runs a phase and measures it: the normal traffic's figures and the CPU the router and the sender used. */
async function measured(run: () => Promise<autocannon.Result>): Promise<Phase> {
  const [router0, sender0, started] = [platform.cpu().router!, cpuMsOf(sender.pid!), performance.now()];
  const r = await run();
  const [router1, sender1, seconds] = [platform.cpu().router!, cpuMsOf(sender.pid!), (performance.now() - started) / 1000];
  return {
    rps: r.requests.average,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
    routerUs: ((router1 - router0) * 1000) / Math.max(r.requests.total, 1),
    senderPct: (sender1 - sender0) / 10 / seconds,
  };
}
const phases: Record<"without" | "with", Phase[]> = { without: [], with: [] };
const outcomes: AttackOutcome[] = [];
try {
  await normal(3); // warm-up: connections, JIT, caches
  for (let round = 0; round < ROUNDS; round++) {
    phases.without.push(await measured(() => normal(DURATION)));
    const attacked = await underAttack();
    phases.with.push(attacked.phase);
    outcomes.push(...attacked.outcomes);
  }
} finally {
  sender.send("exit");
  await platform.stop();
}
report();
process.exit(0);

function report() {
  const median = (list: Phase[], pick: (p: Phase) => number) =>
    percentile(
      list.map(pick).sort((a, b) => a - b),
      50,
    );
  const row = (name: "without" | "with") =>
    `| ${name} attack | ${median(phases[name], (p) => p.rps).toFixed(0)} | ${median(phases[name], (p) => p.p99)} | ${phases[name].reduce((s, p) => s + p.errors, 0)} | ${median(phases[name], (p) => p.routerUs).toFixed(0)} | ${median(phases[name], (p) => p.senderPct).toFixed(0)} |`;
  const byAttack = new Map<string, { answers: Map<string, number>; ms: number[] }>();
  for (const o of outcomes) {
    const entry = byAttack.get(o.attack) ?? { answers: new Map<string, number>(), ms: [] as number[] };
    entry.answers.set(o.answer, (entry.answers.get(o.answer) ?? 0) + 1);
    entry.ms.push(o.ms);
    byAttack.set(o.attack, entry);
  }
  const ratio = (pick: (p: Phase) => number) => median(phases.with, pick) / Math.max(median(phases.without, pick), 1);
  process.stdout.write(
    [
      `normal read mix: ${CONNECTIONS} connections, median of ${ROUNDS} alternating ${DURATION} s phases; attacks at ${ATTACK_RATE}/s`,
      "",
      "| phase | req/s | p99 ms | errors | router CPU µs / request | attack sender CPU % |",
      "|---|---:|---:|---:|---:|---:|",
      row("without"),
      row("with"),
      "",
      `with/without attack: throughput ${ratio((p) => p.rps).toFixed(2)}x, p99 ${ratio((p) => p.p99).toFixed(2)}x`,
      "",
      "| attack | sent | answers | p50 ms | max ms |",
      "|---|---:|---|---:|---:|",
      ...[...byAttack].map(([name, { answers, ms }]) => {
        const sorted = ms.sort((a, b) => a - b);
        const text = [...answers].map(([answer, n]) => `${answer} ×${n}`).join(", ");
        return `| ${name} | ${ms.length} | ${text} | ${percentile(sorted, 50).toFixed(0)} | ${sorted.at(-1)!.toFixed(0)} |`;
      }),
      "",
    ].join("\n"),
  );
}
