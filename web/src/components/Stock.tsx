/** An available count, in a fixed-width box so the layout does not move as it changes. */
export function Available({ count, testId = "available" }: { count: number; testId?: string }) {
  return (
    <span className={`count ${count === 0 ? "sold-out" : ""}`}>
      <span data-testid={testId} aria-live="polite">
        {count}
      </span>{" "}
      <span className="muted">{count === 0 ? "sold out" : "left"}</span>
    </span>
  );
}
