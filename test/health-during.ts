/**
 * The edge-protection tests' second assertion: while an attack runs, `GET /health` keeps answering quickly. The
 * router runs in the test's process, so a request that blocks its event loop delays the probes too.
 */

export interface HealthDuring<T> {
  /** What `attack` resolved with. */
  result: T;
  /** The slowest `/health` answer seen while the attack ran, in ms (a probe that failed counts as Infinity). */
  slowestMs: number;
  /** How many probes answered. */
  probes: number;
}

/** Probes `<baseUrl>/health` back to back (20 ms apart) from before `attack` starts until it has settled. */
export async function healthDuring<T>(baseUrl: string, attack: () => Promise<T>): Promise<HealthDuring<T>> {
  const url = new URL("/health", baseUrl);
  let done = false;
  let slowestMs = 0;
  let probes = 0;
  const probe = async () => {
    while (!done) {
      const started = performance.now();
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
        await response.text();
        slowestMs = Math.max(slowestMs, response.ok ? performance.now() - started : Infinity);
      } catch {
        slowestMs = Infinity;
      }
      probes++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const probing = probe();
  let result: T;
  try {
    result = await attack();
  } finally {
    done = true;
    await probing;
  }
  return { result, slowestMs, probes };
}
