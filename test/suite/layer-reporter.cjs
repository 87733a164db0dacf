// Prints the run's time per test layer (told apart by file name, jest.config.js): files and how many failed,
// tests and how many failed, and the summed run time of the layer's files (files run two at a time, so the
// sum exceeds the wall time).
const LAYERS = ["unit", "int", "e2e"];

class LayerReporter {
  onRunComplete(_contexts, results) {
    const rows = new Map(LAYERS.map((layer) => [layer, { files: 0, failedFiles: 0, tests: 0, failed: 0, ms: 0 }]));
    for (const file of results.testResults) {
      const layer = /\.(unit|int|e2e|cluster)\.test\.ts$/.exec(file.testFilePath)?.[1] ?? "other";
      if (!rows.has(layer)) rows.set(layer, { files: 0, failedFiles: 0, tests: 0, failed: 0, ms: 0 });
      const row = rows.get(layer);
      row.files += 1;
      row.tests += file.numPassingTests + file.numFailingTests;
      row.failed += file.numFailingTests;
      if (file.numFailingTests > 0 || file.testExecError) row.failedFiles += 1;
      row.ms += file.perfStats.end - file.perfStats.start;
    }
    const wall = ((Date.now() - results.startTime) / 1000).toFixed(1);
    const lines = [...rows].map(
      ([layer, r]) =>
        `  ${layer.padEnd(5)} ${String(r.files).padStart(3)} files (${r.failedFiles} failed) ${String(r.tests).padStart(4)} tests (${r.failed} failed) ${(r.ms / 1000).toFixed(1).padStart(7)} s`,
    );
    process.stderr.write(`\nTime per layer (sum of the files' run times; the run took ${wall} s):\n${lines.join("\n")}\n`);
  }
}

module.exports = LayerReporter;
