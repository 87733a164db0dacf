/**
 * Turns a stream of versioned values per key into at most one value per key every `intervalMs`,
 * always the latest, and never a value older than one already delivered. The first value for a key goes
 * out at once; later ones wait for the key's interval to pass, replacing each other while they wait.
 */
export function createCoalescer<V extends { version: number }>(options: {
  intervalMs: number;
  deliver: (key: string, value: V) => void;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}) {
  const now = options.now ?? Date.now;
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as NodeJS.Timeout));
  const state = new Map<string, { lastVersion: number; lastSentAt: number; pending?: V; timer?: unknown }>();

  const send = (key: string, value: V) => {
    const s = state.get(key)!;
    s.lastVersion = value.version;
    s.lastSentAt = now();
    s.pending = undefined;
    s.timer = undefined;
    options.deliver(key, value);
  };

  return {
    push(key: string, value: V) {
      let s = state.get(key);
      if (!s) {
        state.set(key, (s = { lastVersion: -Infinity, lastSentAt: -Infinity }));
      }
      if (value.version <= s.lastVersion || (s.pending && value.version <= s.pending.version)) return;
      const wait = s.lastSentAt + options.intervalMs - now();
      if (wait <= 0 && !s.timer) return send(key, value);
      s.pending = value;
      s.timer ??= setTimer(() => send(key, s!.pending!), Math.max(wait, 0));
    },
    close() {
      for (const s of state.values()) if (s.timer) clearTimer(s.timer);
      state.clear();
    },
  };
}
