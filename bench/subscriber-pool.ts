import { Worker } from "node:worker_threads";
import type { SubscriberWorkerData, SubscriberWorkerMessage } from "./subscriber-worker.ts";

type Done = Extract<SubscriberWorkerMessage, { type: "done" }>;

/**
 * A worker thread running a TypeScript module. Node 20 does not apply `--import tsx` in a worker's execArgv
 * to the worker's own entry (ERR_UNKNOWN_FILE_EXTENSION), so a one-line ES module entry registers tsx's
 * loader in the worker first and then imports the module.
 */
function typeScriptWorker(module: URL, workerData: unknown): Worker {
  const tsx = import.meta.resolve("tsx/esm/api");
  const entry = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(module.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(entry)}`), { workerData });
}

/** The next message of `type` from `worker`; rejects if the worker fails or exits first. */
function nextMessage<T extends SubscriberWorkerMessage["type"]>(worker: Worker, type: T) {
  return new Promise<Extract<SubscriberWorkerMessage, { type: T }>>((resolve, reject) => {
    const onMessage = (message: SubscriberWorkerMessage) => {
      if (message.type !== type) return;
      cleanup();
      resolve(message as Extract<SubscriberWorkerMessage, { type: T }>);
    };
    const onError = (error: Error) => (cleanup(), reject(error));
    const onExit = (code: number) => (cleanup(), reject(new Error(`subscriber worker exited (${code}) before "${type}"`)));
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage).on("error", onError).on("exit", onExit);
  });
}

/**
 * `subscribers` graphql-transport-ws clients spread over `workers` worker threads (`subscriber-worker.ts`),
 * so the load generator's frame handling neither shares one event loop with the bench's buyers nor
 * queues 5000 sockets' deliveries behind each other. `ready` resolves when every client has its first value or has failed (with how many failed);
 * `stop` closes them and returns every latency sample (ascending) and the counts of failures.
 */
export function startSubscribers(options: SubscriberWorkerData & { workers: number }) {
  const { subscribers, workers: wanted, tokens, ...shared } = options;
  const n = Math.max(1, Math.min(wanted, subscribers)); // no worker without subscribers
  let first = 0; // the first subscriber of the next worker, for its share of `tokens`
  const workers = Array.from({ length: n }, (_, i) => {
    const share = Math.floor(subscribers / n) + (i < subscribers % n ? 1 : 0);
    const data: SubscriberWorkerData = { ...shared, subscribers: share, ...(tokens ? { tokens: tokens.slice(first, first + share) } : {}) };
    first += share;
    return typeScriptWorker(new URL("./subscriber-worker.ts", import.meta.url), data);
  });
  // A worker that fails between messages must fail the run, not hang it: remember why, and check at stop.
  const failures: Error[] = [];
  for (const worker of workers) {
    worker.on("error", (error) => failures.push(error));
    worker.on("exit", (code) => failures.push(new Error(`subscriber worker exited (${code})`)));
  }
  const ready = Promise.all(workers.map((worker) => nextMessage(worker, "ready"))).then((messages) => ({
    failed: messages.reduce((total, m) => total + m.failed, 0),
    firstError: messages.find((m) => m.firstError)?.firstError,
  }));
  ready.catch(() => undefined); // observed by the caller; this only keeps a failure before it awaits from being unhandled

  return {
    ready,
    async stop() {
      if (failures[0]) throw failures[0];
      const results: Done[] = await Promise.all(
        workers.map((worker) => {
          const done = nextMessage(worker, "done");
          worker.postMessage("stop");
          return done;
        }),
      );
      for (const worker of workers) worker.removeAllListeners("exit");
      await Promise.all(workers.map((worker) => worker.terminate()));
      const latencies = new Float64Array(results.reduce((total, r) => total + r.latencies.length, 0));
      results.reduce((offset, r) => (latencies.set(r.latencies, offset), offset + r.latencies.length), 0);
      return {
        latencies: Array.from(latencies.sort()),
        dropped: results.reduce((total, r) => total + r.dropped, 0),
        errors: results.reduce((total, r) => total + r.errors, 0),
      };
    },
    /** Ends every worker at once (used when the bench fails). */
    terminate: () => Promise.all(workers.map((worker) => worker.terminate())).then(() => undefined),
  };
}
