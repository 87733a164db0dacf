import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { Redis } from "ioredis";
import { freePort } from "../../common/ports.ts";
import { startTcpProxy, targetOf } from "../tcp-proxy.ts";

// The infrastructure the chaos suite may break: a redis-server of its own, a Kafka broker of its own and a TCP
// proxy in front of the shared PostgreSQL. The shared Redis, broker and PostgreSQL are never touched.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A redis-server without persistence on a free port: FLUSHALL and a restart lose everything, as they would in production without AOF. */
export async function startOwnRedis() {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const url = `redis://127.0.0.1:${port}/0`;
  const ping = async () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    try {
      await client.connect();
      return (await client.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  };
  const start = async () => {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    const deadline = Date.now() + 10_000;
    while (!(await ping())) {
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer within 10 s`);
      await sleep(50);
    }
  };
  const kill = async () => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((r) => running.once("exit", r));
    running.kill("SIGKILL");
    await exited;
  };
  await start();
  process.on("exit", () => child?.kill("SIGKILL"));
  return {
    url,
    port,
    /** FLUSHALL: every key gone, the server stays up. */
    async flushAll() {
      const client = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        await client.flushall();
      } finally {
        client.disconnect();
      }
    },
    /** kill -9 and start again on the same port, empty. */
    async restart(downMs = 1_000) {
      await kill();
      await sleep(downMs);
      await start();
    },
    close: kill,
  };
}

/**
 * A single KRaft broker of its own (scripts/infra.sh kafka-start, as `kafka-restart.int.test.ts` does), in a fresh
 * directory. A start takes ~10 s here, so only `npm run chaos` uses one.
 */
export async function startOwnKafka(root: string, dir: string) {
  const infra = (...args: string[]) => {
    const result = spawnSync("bash", [`${root}scripts/infra.sh`, ...args], { encoding: "utf8", timeout: 180_000 });
    if (result.status !== 0) throw new Error(`infra.sh ${args.join(" ")} failed: ${result.stderr}${result.stdout}`);
  };
  infra("kafka-stop", dir);
  rmSync(dir, { recursive: true, force: true });
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  infra("kafka-start", dir, String(port), String(controllerPort));
  const pid = () => Number(readFileSync(`${dir}/kafka.pid`, "utf8").trim());
  return {
    brokers: `127.0.0.1:${port}`,
    /** SIGSTOP for `ms`, then SIGCONT: a broker that hangs (GC pause, frozen VM) without closing a socket. */
    async pause(ms: number) {
      const p = pid();
      process.kill(p, "SIGSTOP");
      try {
        await sleep(ms);
      } finally {
        process.kill(p, "SIGCONT");
      }
    },
    /** kill -9, down for `downMs`, then started again from the same data directory (nothing lost that was acknowledged). */
    async killAndRestart(downMs: number) {
      const p = pid();
      process.kill(p, "SIGKILL");
      while (existsPid(p)) await sleep(50);
      await sleep(downMs);
      infra("kafka-start", dir, String(port), String(controllerPort));
    },
    close: async () => infra("kafka-stop", dir),
  };
}

function existsPid(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A TCP proxy the suite controls in front of the shared PostgreSQL: `cut(ms)` makes the database unreachable for that long. */
export async function startPostgresProxy(databaseUrl: string) {
  const proxy = await startTcpProxy(targetOf(databaseUrl));
  return {
    /** `databaseUrl` through the proxy. */
    url: proxy.url(databaseUrl),
    async cut(ms: number) {
      await proxy.stop();
      try {
        await sleep(ms);
      } finally {
        await proxy.start();
      }
    },
    close: proxy.close,
  };
}
