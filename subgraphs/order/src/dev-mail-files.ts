import { Worker } from "node:worker_threads";
import type { MailMessage } from "./mail-message.ts";

/**
 * Composes and writes development mail files (`<directory>/<id>.eml`) in a worker thread of its own
 * (dev-mail-worker.ts). Creating a small file took 0.2-0.35 ms of kernel time on an ext4 disk (bench/RESULTS.md,
 * stand-alone measurements) and a sale mails every buyer: on the event loop, composing and writing were the largest
 * cost of a placed order. `write` resolves when every file of the batch is in place, so the notifications consumer
 * records a mail as sent only after its file exists.
 */
export function createMailFileWriter(from: string, directory: string) {
  let worker: Worker | null = null;
  let nextId = 0;
  const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  const failAll = (stopped: Worker, error: Error) => {
    if (worker !== stopped) return; // closed, or already replaced
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
    worker = null; // the next batch starts a new one
  };
  const start = () => {
    const w = new Worker(new URL("./dev-mail-worker.ts", import.meta.url), { workerData: { from, directory } });
    w.on("message", ({ id, error }: { id: number; error?: string }) => {
      const waiting = pending.get(id);
      pending.delete(id);
      if (pending.size === 0) w.unref(); // an idle writer never keeps the process alive
      if (error) waiting?.reject(new Error(`writing mail files: ${error}`));
      else waiting?.resolve();
    });
    w.on("error", (error) => failAll(w, error));
    w.on("exit", () => failAll(w, new Error("the mail file writer stopped")));
    return w;
  };
  return {
    write(messages: readonly MailMessage[]): Promise<void> {
      if (messages.length === 0) return Promise.resolve();
      worker ??= start();
      const id = nextId++;
      worker.ref();
      worker.postMessage({ id, messages });
      return new Promise<void>((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    close: async () => {
      const w = worker;
      worker = null;
      for (const { reject } of pending.values()) reject(new Error("the mail file writer was closed"));
      pending.clear();
      await w?.terminate();
    },
  };
}
