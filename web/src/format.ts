const formats = new Map<string, Intl.NumberFormat>();

/** Minor units (API.md: `priceCents` plus ISO-4217 `currency`) as the reader's locale writes money. */
export function money(cents: number, currency: string): string {
  let format = formats.get(currency);
  if (!format) formats.set(currency, (format = new Intl.NumberFormat(undefined, { style: "currency", currency })));
  return format.format(cents / 100);
}

/** `mm:ss` (or `h:mm:ss`) of a duration in ms, never negative. */
export function clock(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const pad = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${pad(m)}:${pad(s)}`;
}
