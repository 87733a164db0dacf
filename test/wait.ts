/**
 * What a test has received from a stream (a subscription, a topic) and a bounded wait for the event it needs.
 * `waitFor` looks at what already arrived, then at what arrives; it rejects after `timeoutMs`, or as soon as the
 * stream fails or ends, listing every event seen, so a missed event fails fast and says what came instead.
 */
export interface Received<T> {
  /** Every event so far, in arrival order. */
  readonly events: readonly T[];
  /** The events up to and including the first one that matches `predicate` (default bound 15 s). */
  waitFor(predicate: (event: T) => boolean, timeoutMs?: number): Promise<T[]>;
  /** The first event. For the platform's subscriptions it is the current value, sent once the server listens. */
  first(timeoutMs?: number): Promise<T>;
}

interface Waiter<T> {
  predicate: (event: T) => boolean;
  settle: (outcome: { events: T[] } | { error: Error }) => void;
}

/** A `Received` fed by the caller: `push` every event, `end` when the stream fails or completes. */
export function received<T>(label: string): Received<T> & { push(event: T): void; end(reason: string): void } {
  const events: T[] = [];
  const waiters = new Set<Waiter<T>>();
  let ended: string | null = null;
  const failure = (what: string) => new Error(`${label}: ${what}; saw ${JSON.stringify(events)}`);

  const matches = (waiter: Waiter<T>, event: T) => {
    try {
      return waiter.predicate(event);
    } catch (error) {
      waiter.settle({ error: failure(`the predicate threw ${String(error)}`) });
      return false;
    }
  };

  const waitFor = (predicate: (event: T) => boolean, timeoutMs = 15_000) =>
    new Promise<T[]>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const waiter: Waiter<T> = {
        predicate,
        settle: (outcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          waiters.delete(waiter);
          if ("error" in outcome) reject(outcome.error);
          else resolve(outcome.events);
        },
      };
      const index = events.findIndex((event) => matches(waiter, event));
      if (index >= 0) return waiter.settle({ events: events.slice(0, index + 1) });
      if (settled) return;
      if (ended) return waiter.settle({ error: failure(`${ended} before the awaited event`) });
      waiters.add(waiter);
      timer = setTimeout(() => waiter.settle({ error: failure(`no awaited event within ${timeoutMs} ms`) }), timeoutMs);
    });

  return {
    events,
    waitFor,
    first: async (timeoutMs) => (await waitFor(() => true, timeoutMs))[0]!,
    push(event) {
      events.push(event);
      for (const waiter of [...waiters]) if (matches(waiter, event)) waiter.settle({ events: [...events] });
    },
    end(reason) {
      ended ??= reason;
      for (const waiter of [...waiters]) waiter.settle({ error: failure(`${reason} before the awaited event`) });
    },
  };
}
