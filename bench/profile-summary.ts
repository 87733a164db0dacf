import { readFileSync } from "node:fs";
import path from "node:path";

// `npx tsx bench/profile-summary.ts <file.cpuprofile> [--files] [--top N] [--from S --to S] [--timeline]`: where a V8 CPU profile
// (BENCH_PROFILE=<service> in the benches) spent its busy time. Prints, per package (node_modules/<name>), project
// file (with --files) or Node.js internal module, the self time and the inclusive time (counted once per sample
// however often it appears in the stack), as a share of the samples that were not idle. --from/--to keep the
// samples between S and S seconds after the profile started (one phase of a bench).
interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const file = args.find((a) => a.endsWith(".cpuprofile"));
if (!file) throw new Error("usage: profile-summary.ts <file.cpuprofile> [--files] [--top N] [--from S --to S]");
const byFile = args.includes("--files");
const top = Number(option("--top") ?? 30);
const from = Number(option("--from") ?? 0) * 1e6;
const to = Number(option("--to") ?? Infinity) * 1e6;
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

/** The bucket a frame's time goes to. */
function bucketOf({ url, functionName }: Node["callFrame"]): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:"))
    return url
      .replace(/^node:internal\/(deps\/)?/, "node:")
      .split("/")
      .slice(0, 2)
      .join("/");
  const clean = url.replace(/^file:\/\//, "");
  const modules = clean.lastIndexOf("/node_modules/");
  if (modules >= 0) {
    const [scope, name] = clean.slice(modules + 14).split("/");
    return scope!.startsWith("@") ? `${scope}/${name}` : scope!;
  }
  return byFile ? path.relative(process.cwd(), clean) : path.relative(process.cwd(), clean).split("/").slice(0, 2).join("/");
}

const parent = new Map<number, number>();
const byId = new Map<number, Node>();
for (const node of profile.nodes) {
  byId.set(node.id, node);
  for (const child of node.children ?? []) parent.set(child, node.id);
}
const stackBuckets = new Map<number, { self: string; all: Set<string> }>();
function bucketsOf(id: number) {
  let known = stackBuckets.get(id);
  if (!known) {
    const all = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (frame.functionName !== "(root)") all.add(bucketOf(frame));
    }
    known = { self: bucketOf(byId.get(id)!.callFrame), all };
    stackBuckets.set(id, known);
  }
  return known;
}

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let busy = 0;
let idle = 0;
let t = 0;
profile.samples.forEach((id, i) => {
  // A sample's weight is the time until the next one.
  const dt = profile.timeDeltas[i + 1] ?? 0;
  t += profile.timeDeltas[i] ?? 0;
  if (t < from || t > to) return;
  const buckets = bucketsOf(id);
  if (buckets.self === "(idle)") return void (idle += dt);
  busy += dt;
  self.set(buckets.self, (self.get(buckets.self) ?? 0) + dt);
  for (const b of buckets.all) inclusive.set(b, (inclusive.get(b) ?? 0) + dt);
});

if (args.includes("--timeline")) {
  // Busy share per second, to pick a phase for --from/--to.
  const perSecond: number[] = [];
  let at = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    const second = Math.floor(at / 1e6);
    if (bucketsOf(id).self !== "(idle)") perSecond[second] = (perSecond[second] ?? 0) + (profile.timeDeltas[i + 1] ?? 0);
  });
  console.log([...perSecond].map((us, s) => `${s}s ${Math.round((us ?? 0) / 1e4)}%`).join("  "));
}
const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
console.log(`${file}: busy ${(busy / 1e6).toFixed(1)} s, idle ${(idle / 1e6).toFixed(1)} s`);
console.log(`${"inclusive".padStart(9)} ${"self".padStart(6)}  bucket`);
for (const [bucket, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(us).padStart(9)} ${pct(self.get(bucket) ?? 0)}  ${bucket}`);
}
