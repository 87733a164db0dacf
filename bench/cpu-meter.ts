import { execFileSync } from "node:child_process";
import { cpuMsOf } from "./platform.ts";

/** A group's processes: a function that lists their pids, or a `pgrep -f` pattern (extended regex). */
export type CpuGroups = Record<string, (() => number[]) | { pattern: string }>;

const SAMPLE_MS = 500;

function pidsOf(source: CpuGroups[string]): number[] {
  if (typeof source === "function") return source();
  try {
    return execFileSync("pgrep", ["-f", source.pattern], { encoding: "utf8" }).split("\n").filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * CPU seconds (user + system) each group of processes uses from now until `stop()`. Samples every 500 ms, so a
 * process that exits meanwhile (the bench's child, a PostgreSQL backend) counts up to its last sample; one that
 * appears meanwhile counts from zero.
 */
export function cpuMeter(groups: CpuGroups) {
  const first = new Map<number, number>();
  const last = new Map<number, { group: string; ms: number }>();
  const sample = (initial: boolean) => {
    for (const [group, source] of Object.entries(groups)) {
      for (const pid of pidsOf(source)) {
        const ms = cpuMsOf(pid);
        if (ms === 0 && last.has(pid)) continue; // exited between listing and reading
        if (!first.has(pid)) first.set(pid, initial ? ms : 0);
        last.set(pid, { group, ms });
      }
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), SAMPLE_MS);
  return {
    /** CPU seconds by group since the meter started. */
    stop(): Record<string, number> {
      clearInterval(timer);
      sample(false);
      const totals: Record<string, number> = Object.fromEntries(Object.keys(groups).map((group) => [group, 0]));
      for (const [pid, { group, ms }] of last) totals[group]! += (ms - first.get(pid)!) / 1000;
      return totals;
    },
  };
}
