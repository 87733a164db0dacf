import WebSocket from "ws";
import { parentPort, workerData } from "node:worker_threads";

/**
 * One share of `bench:subscriptions`' WebSocket subscribers, in a worker thread of its own so that the
 * load generator's frame parsing runs beside the buyers instead of queueing behind them. Speaks
 * graphql-transport-ws directly over `ws`; a hot `next` frame is not JSON-parsed: the client only needs the
 * event's `changedAt` (the committed change's time), which it reads straight out of the frame's bytes.
 *
 * Messages to the parent: `{ type: "ready", failed }` once every socket has its first value or has failed,
 * then, after the parent sends "stop", `{ type: "done", latencies, dropped, errors }` (latencies as a
 * transferred Float64Array; `dropped` counts sockets whose subscription ended or closed before the stop). The
 * parent terminates the worker after that; the sockets are closed with 1000 but not waited for.
 */
export interface SubscriberWorkerData {
  url: string;
  query: string;
  productId: string;
  subscribers: number;
  /** One client token per subscriber of this worker (BENCH_SIGNED_IN=1), sent in `connection_init`; absent: anonymous. */
  tokens?: string[];
}

export type SubscriberWorkerMessage =
  { type: "ready"; failed: number; firstError?: string } | { type: "done"; latencies: Float64Array; dropped: number; errors: number };

const { url, query, productId, subscribers, tokens } = workerData as SubscriberWorkerData;
const port = parentPort!;
const CHANGED_AT = Buffer.from('"changedAt":"');
const NEXT = Buffer.from('"type":"next"');
const ACK = Buffer.from('"type":"connection_ack"');
const subscribeFrame = JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables: { ids: [productId] } } });
const initFrame = (token: string | undefined) =>
  JSON.stringify({ type: "connection_init", payload: token ? { authorization: `Bearer ${token}` } : {} });

let latencies = new Float64Array(1 << 16);
let count = 0;
let dropped = 0;
let errors = 0;
let settled = 0; // sockets that have their first value or failed before it
let failedEarly = 0;
let firstError: string | undefined;
let stopping = false;
const sockets: WebSocket[] = [];

const record = (ms: number) => {
  if (count === latencies.length) {
    const grown = new Float64Array(latencies.length * 2);
    grown.set(latencies);
    latencies = grown;
  }
  latencies[count++] = ms;
};

/** Milliseconds from the frame's `changedAt` to now, or undefined when the frame carries none. */
function latencyOf(frame: Buffer, now: number): number | undefined {
  const at = frame.indexOf(CHANGED_AT);
  if (at < 0) return undefined;
  const start = at + CHANGED_AT.length;
  const end = frame.indexOf(0x22, start); // the closing quote
  return now - Date.parse(frame.toString("latin1", start, end));
}

function connect(index: number) {
  let first = true;
  let lost = false;
  const drop = (why: string) => {
    if (stopping || lost) return;
    lost = true;
    dropped++;
    firstError ??= why;
    settle(true);
  };
  const settle = (failed: boolean) => {
    if (!first) return;
    first = false;
    if (failed) failedEarly++;
    if (++settled === subscribers) port.postMessage({ type: "ready", failed: failedEarly, firstError } satisfies SubscriberWorkerMessage);
  };
  const socket = new WebSocket(url, "graphql-transport-ws", { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: 30_000 });
  sockets.push(socket);
  socket.on("open", () => socket.send(initFrame(tokens?.[index])));
  socket.on("message", (frame: Buffer) => {
    const now = Date.now();
    if (frame.indexOf(NEXT) >= 0) {
      if (first) return settle(false);
      const latency = latencyOf(frame, now);
      if (latency === undefined)
        errors++; // a result with errors and no data
      else record(latency);
    } else if (frame.indexOf(ACK) >= 0) {
      socket.send(subscribeFrame);
    } else {
      drop(frame.toString()); // error or complete: the subscription ended
    }
  });
  socket.on("close", (code, reason) => drop(`closed ${code} ${reason.toString()}`));
  socket.on("error", (error) => void (firstError ??= error.message));
}

// Connect in batches, as a crowd arrives, rather than 5000 handshakes in one tick.
const connectBatch = (from: number) => {
  for (let i = from; i < Math.min(from + 125, subscribers); i++) connect(i);
  if (from + 125 < subscribers) setTimeout(() => connectBatch(from + 125), 50);
};
if (subscribers > 0) connectBatch(0);
else port.postMessage({ type: "ready", failed: 0 } satisfies SubscriberWorkerMessage);

port.on("message", (message: unknown) => {
  if (message !== "stop") return;
  stopping = true;
  for (const socket of sockets) socket.close(1000);
  const result = latencies.slice(0, count);
  port.postMessage({ type: "done", latencies: result, dropped, errors } satisfies SubscriberWorkerMessage, [result.buffer]);
});
