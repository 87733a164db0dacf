import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { PerformanceObserver, constants, type PerformanceEntry } from "node:perf_hooks";
import { Redis } from "ioredis";
import { createRedis, defineScript } from "../common/redis.ts";
import { infraUp } from "../scripts/env.ts";

// `npm run bench:redis-client`: how the services' Redis client batches commands, measured on the real Redis.
// BENCH_CONNECTIONS (default 50) loops each send one purchase-shaped group at a time (SET NX GET + EXISTS +
// the flash_purchase script, as flashPurchase does) for BENCH_DURATION seconds (default 6) after a 2 s warm-up,
// once per mode, each mode in a fresh process, the modes taking turns for BENCH_ROUNDS rounds (default 2):
//   corked     createRedis (common/redis.ts): one socket write per event-loop turn
//   autopipe   ioredis enableAutoPipelining: one Pipeline per turn
//   plain      ioredis, one socket write per command
// It prints groups per second, CPU per group and the young-generation collections (count and total pause).
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const MODES = ["corked", "autopipe", "plain"] as const;
type Mode = (typeof MODES)[number];

const mode = process.argv[2] as Mode | undefined;

if (!mode) {
  // Redis database 14, emptied after each mode (bench:flash uses 15, the tests and `npm start` 0).
  const url = new URL(infraUp().REDIS_URL ?? "redis://127.0.0.1:6379");
  url.pathname = "/14";
  console.log(`bench:redis-client  ${CONNECTIONS} loops, ${DURATION} s per mode, ${ROUNDS} rounds, Redis ${url.host}\n`);
  console.log("mode        groups/s   CPU us/group   scavenges   scavenge ms (total)");
  for (let round = 1; round <= ROUNDS; round++) {
    for (const m of MODES) {
      const line = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), m], {
          stdio: ["ignore", "pipe", "inherit"],
          env: { ...process.env, BENCH_REDIS_URL: url.toString() },
        });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.on("exit", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${m} exited with ${code}`))));
      });
      console.log(line);
    }
  }
} else {
  const url = process.env.BENCH_REDIS_URL!;
  const redis = mode === "corked" ? createRedis(url) : new Redis(url, { commandTimeout: 2_000, enableAutoPipelining: mode === "autopipe" });
  const purchase = defineScript(redis, "flash_purchase");
  await redis.hset("{bench}:item", { remaining: 1e9, ended: "0", startsAt: 0, endsAt: 9e15, limit: 1e9, price: 100, product: "p", currency: "USD" });

  let n = 0;
  let measuring = false;
  let scavenges = 0;
  let scavengeMs = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (!measuring || (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind !== constants.NODE_PERFORMANCE_GC_MINOR) continue;
      scavenges++;
      scavengeMs += e.duration;
    }
  }).observe({ entryTypes: ["gc"] });

  const group = (i: number) =>
    Promise.all([
      redis.call("SET", `{bench}:p:${i}`, "x", "EX", 60, "NX", "GET"),
      redis.exists(`{bench}:r:${i}`),
      purchase(
        ["{bench}:item", "{bench}:users", `{bench}:r:${i}`, "{bench}:expiry"],
        [`o${i}`, `u${i}`, 1, "h", Date.now(), Date.now() + 60_000, 1e9, 1e9, "{bench}:ch", `k${i}`],
      ),
    ]);
  const until = (ms: number) =>
    Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (Date.now() < ms) await group(n++);
      }),
    );

  await until(Date.now() + 2_000);
  measuring = true;
  const start = n;
  const cpu = process.cpuUsage();
  await until(Date.now() + DURATION * 1_000);
  const used = process.cpuUsage(cpu);
  measuring = false;
  const groups = n - start;
  console.log(
    `${mode.padEnd(10)} ${String(Math.round(groups / DURATION)).padStart(9)} ${((used.user + used.system) / groups).toFixed(1).padStart(14)} ${String(scavenges).padStart(11)} ${scavengeMs.toFixed(0).padStart(21)}`,
  );
  await redis.flushdb();
  redis.disconnect();
}
