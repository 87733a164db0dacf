import DataLoader from "dataloader";

export interface BatchingOptions {
  /** Most inputs in one call of `run` (default 100). */
  maxBatch?: number;
}

/**
 * Calls `run` once for many concurrent inputs: the inputs that arrive while the previous call is still running are
 * gathered and handed over together once it has finished. Under load one database statement then serves many
 * requests, and a request waits at most one call before its own starts; when idle, an input runs at once (the next
 * turn of the event loop). `run` answers one result per input, in order; an Error in the array fails only its input,
 * a thrown error fails the whole call.
 */
export function createBatching<I, O>(run: (inputs: readonly I[]) => Promise<(O | Error)[]>, options: BatchingOptions = {}) {
  let previous: Promise<unknown> = Promise.resolve();
  const loader = new DataLoader<I, O, I>(
    (inputs) => {
      const call = run(inputs);
      previous = call.catch(() => undefined);
      return call;
    },
    {
      cache: false,
      maxBatchSize: options.maxBatch ?? 100,
      batchScheduleFn: (dispatch) => void previous.then(() => setImmediate(dispatch)),
    },
  );
  return (input: I): Promise<O> => loader.load(input);
}
