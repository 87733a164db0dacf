import { createWriteStream } from "node:fs";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ENTRIES, SERVICE_NAMES, withFreePorts } from "../../scripts/services.ts";

// The platform under test as `npm start` runs it: every subgraph and the router as separate processes
// (`node --import tsx <entry>`, scripts/services.ts's entries and ports), with the one difference that any
// service can be killed with SIGKILL and started again on its port, which createServices does not offer.

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TAIL_BYTES = 16_384;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = (child: ChildProcess | undefined) => !!child && child.exitCode === null && child.signalCode === null;

export async function startPlatform(baseEnv: NodeJS.ProcessEnv) {
  const env = await withFreePorts(baseEnv);
  const port = (name: string) => Number(env[ENTRIES[name]!.portKey]);
  const children = new Map<string, ChildProcess>();
  const tails = new Map<string, string>();
  const killAll = () => children.forEach((child) => running(child) && child.kill("SIGKILL"));
  process.on("exit", killAll);

  function launch(name: string) {
    const child = spawn(process.execPath, ["--import", "tsx", `${ROOT}${ENTRIES[name]!.entry}`], {
      env,
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    // CHAOS_LOG_DIR=<dir> also appends every process's whole output to <dir>/<name>.log (the tail is kept either way).
    const file = process.env.CHAOS_LOG_DIR ? createWriteStream(path.join(process.env.CHAOS_LOG_DIR, `${name}.log`), { flags: "a" }) : null;
    const keep = (chunk: Buffer) => {
      file?.write(chunk);
      tails.set(name, ((tails.get(name) ?? "") + chunk.toString("utf8")).slice(-TAIL_BYTES));
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    children.set(name, child);
  }

  async function waitHealthy(name: string, timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const child = children.get(name);
      if (!running(child))
        throw new Error(`${name} exited (${child?.exitCode ?? child?.signalCode}) before it was healthy:\n${tails.get(name) ?? ""}`);
      try {
        if ((await fetch(`http://127.0.0.1:${port(name)}/health`, { signal: AbortSignal.timeout(1_000) })).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    throw new Error(`${name} did not answer /health within ${timeoutMs / 1000} s:\n${tails.get(name) ?? ""}`);
  }

  async function stopOne(name: string, signal: NodeJS.Signals) {
    const child = children.get(name);
    if (!child || !running(child)) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    const timer = signal === "SIGKILL" ? undefined : setTimeout(() => child.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  }

  const subgraphs = SERVICE_NAMES.filter((name) => name !== "router");
  subgraphs.forEach(launch);
  await Promise.all(subgraphs.map((name) => waitHealthy(name)));
  launch("router");
  await waitHealthy("router");

  return {
    env,
    routerUrl: `http://127.0.0.1:${port("router")}/graphql`,
    url: (name: string) => `http://127.0.0.1:${port(name)}/graphql`,
    /** SIGKILL (or another signal) to one service, `whileDown` (default: 0.5 s), then the same service on the same port again, healthy. */
    async restart(name: string, signal: NodeJS.Signals = "SIGKILL", whileDown: () => Promise<unknown> = () => sleep(500)) {
      await stopOne(name, signal);
      await whileDown();
      launch(name);
      await waitHealthy(name);
    },
    /** Services that are not running although nothing stopped them (they crashed on a fault). */
    dead: () => SERVICE_NAMES.filter((name) => !running(children.get(name))),
    output: (name: string) => tails.get(name) ?? "",
    async stop() {
      for (const name of ["router", ...[...subgraphs].reverse()]) await stopOne(name, "SIGTERM");
      process.off("exit", killAll);
    },
  };
}

export type Platform = Awaited<ReturnType<typeof startPlatform>>;
