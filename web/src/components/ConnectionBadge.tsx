import { useSyncExternalStore } from "react";
import type { Connection } from "../apollo.ts";

const LABELS = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…" } as const;

/** Whether live updates flow: the subscription socket's state. */
export function ConnectionBadge({ connection }: { connection: Connection }) {
  const state = useSyncExternalStore(connection.onStateChange, connection.state);
  return (
    <span
      className={`badge badge-${state}`}
      data-testid="connection"
      data-state={state}
      title={connection.lastClose() && `last closed: ${connection.lastClose()}`}
      role="status"
      aria-live="polite"
    >
      {LABELS[state]}
    </span>
  );
}
