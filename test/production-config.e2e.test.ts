import { spawn } from "node:child_process";
import net from "node:net";
import { freePort } from "../common/ports.ts";
import { ENTRIES } from "../scripts/services.ts";
import { ROOT } from "../scripts/env.ts";

/**
 * NODE_ENV=production with weak secrets, run as `npm start` runs each process (scripts/services.ts). The process
 * must exit non-zero, name the variables, and never open its port (probed every 20 ms while it runs).
 */
async function runProduction(entry: string, env: Record<string, string | undefined>) {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", `${ROOT}${entry}`], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: "production",
      LOG_LEVEL: "info",
      ...Object.fromEntries(Object.values(ENTRIES).map((e) => [e.portKey, String(port)])),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  let exited = false;
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => ((exited = true), resolve(code))));
  let portOpened = false;
  while (!exited) {
    portOpened ||= await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)));
      socket.on("error", () => resolve(false));
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { code: await exit, output, portOpened };
}

const WEAK = {
  JWT_SECRET: undefined,
  INTERNAL_SECRET: "dev-only-internal-secret-change-me",
  PAYMENT_WEBHOOK_SECRET: "short-but-16-bytes",
  CORS_ORIGINS: "",
};

test.each(Object.entries(ENTRIES).map(([name, { entry }]) => [name, entry]))(
  "%s refuses to start in production with weak secrets, before it listens",
  async (_name, entry) => {
    const { code, output, portOpened } = await runProduction(entry, WEAK);
    expect(code).not.toBe(0);
    expect(output).toContain("Refusing to start with NODE_ENV=production");
    for (const problem of [
      "JWT_SECRET is unset",
      "INTERNAL_SECRET is the development default",
      "PAYMENT_WEBHOOK_SECRET is shorter than 32 bytes",
      "CORS_ORIGINS is empty",
    ]) {
      expect(output).toContain(problem);
    }
    expect(portOpened).toBe(false);
  },
);

test("the router refuses JWT_SECRET equal to INTERNAL_SECRET", async () => {
  const shared = "s".repeat(40);
  const { code, output, portOpened } = await runProduction(ENTRIES.router!.entry, {
    JWT_SECRET: shared,
    INTERNAL_SECRET: shared,
    PAYMENT_WEBHOOK_SECRET: "p".repeat(40),
    CORS_ORIGINS: "https://shop.example",
  });
  expect({ code, portOpened }).toEqual({ code: 1, portOpened: false });
  expect(output).toContain("JWT_SECRET and INTERNAL_SECRET are the same secret");
});

test("npm start (scripts/start.ts) refuses before it starts or reuses any infrastructure", async () => {
  const { code, output } = await runProduction("scripts/start.ts", WEAK);
  expect(code).not.toBe(0);
  expect(output).toContain("JWT_SECRET is unset");
  // infra.sh prints one line per service it reuses or starts; none was printed.
  expect(output).not.toMatch(/^(postgres|redis|kafka)\s/m);
});
