import type { Check } from "./invariants.ts";

export interface PhaseResult {
  fault: string;
  quiescence: Check;
  checks: Check[];
  error?: string;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));

/** One row per fault, one column per invariant ("ok" or "FAIL"), then the numbers of every cell. */
export function formatTable(results: PhaseResult[]): string {
  const names = [...new Set(results.flatMap((r) => [r.quiescence.name, ...r.checks.map((c) => c.name)]))];
  const width = Math.max(5, ...results.map((r) => r.fault.length));
  const short = names.map((n, i) => `${i + 1}`);
  const lines = [
    "Invariants: " + names.map((n, i) => `${short[i]} ${n}`).join("; "),
    "",
    `${pad("fault", width)} | ${short.map((s) => pad(s, 4)).join(" | ")} | result`,
    `${"-".repeat(width)}-|${short.map(() => "------").join("|")}|-------`,
  ];
  for (const r of results) {
    const cells = names.map((n) => {
      const c = n === r.quiescence.name ? r.quiescence : r.checks.find((x) => x.name === n);
      return pad(c ? (c.ok ? "ok" : "FAIL") : r.error ? "ERR" : "-", 4);
    });
    const ok = !r.error && r.quiescence.ok && r.checks.every((c) => c.ok);
    lines.push(`${pad(r.fault, width)} | ${cells.join(" | ")} | ${ok ? "PASS" : "FAIL"}`);
  }
  lines.push("");
  for (const r of results) {
    lines.push(`${r.fault}:`);
    if (r.error) lines.push(`  ERROR ${r.error}`);
    for (const c of [r.quiescence, ...r.checks]) lines.push(`  ${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`);
  }
  return lines.join("\n");
}

export const passed = (results: PhaseResult[]) => results.every((r) => !r.error && r.quiescence.ok && r.checks.every((c) => c.ok));
