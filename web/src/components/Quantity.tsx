/** A quantity picker, 1 to `max`. */
export function Quantity({ value, max, onChange }: { value: number; max: number; onChange: (value: number) => void }) {
  return (
    <label>
      Quantity{" "}
      <input
        type="number"
        data-testid="quantity"
        inputMode="numeric"
        min={1}
        max={max}
        value={value}
        onChange={(e) => onChange(Math.max(1, Math.min(max, Number(e.target.value) || 1)))}
      />
    </label>
  );
}
