import type { Logger } from "./logger.ts";

/**
 * Runs `task` every `intervalMs` (measured from the end of the previous run, so runs never overlap) until
 * closed; a failed run is logged and the next one tries again. `close` waits for a run in progress.
 */
export function runPeriodically(task: () => Promise<unknown>, intervalMs: number, log: Logger, what: string): { close: () => Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const tick = () => {
    running = task()
      .catch((error) => log.warn({ err: error }, `${what} failed; retrying at the next interval`))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    close: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
