import { parentPort, workerData } from "node:worker_threads";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { composeMessage, type MailMessage } from "./mail-message.ts";

/**
 * The development mailer's thread (dev-mail-files.ts): composes each message of a batch and writes it to
 * `<directory>/<id>.eml` under a temporary name, then renames it, so a file appears whole or not at all.
 * Synchronous: written through Node's thread pool, a small file cost more CPU in the hand-off between threads than
 * the write itself (bench/RESULTS.md, stand-alone measurements).
 */
const { from, directory } = workerData as { from: string; directory: string };
mkdirSync(directory, { recursive: true });
parentPort!.on("message", ({ id, messages }: { id: number; messages: MailMessage[] }) => {
  try {
    for (const message of messages) {
      const file = path.join(directory, `${message.id}.eml`);
      writeFileSync(`${file}.tmp`, composeMessage(from, message));
      renameSync(`${file}.tmp`, file);
    }
    parentPort!.postMessage({ id });
  } catch (error) {
    parentPort!.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
