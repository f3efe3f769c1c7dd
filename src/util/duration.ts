/**
 * Go duration strings ("10s", "1.5m", "500ms", "1h2m3s", "0") to milliseconds.
 * Returns NaN when the text is not a Go duration.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export function parseGoDuration(text: string): number {
  let s = text.trim();
  if (s === '') return Number.NaN;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  let total = 0;
  let i = 0;
  let parts = 0;
  while (i < s.length) {
    const numStart = i;
    while (i < s.length && ((s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) || s[i] === '.')) i++;
    if (i === numStart) return Number.NaN;
    const num = Number(s.slice(numStart, i));
    if (!Number.isFinite(num)) return Number.NaN;
    const unitStart = i;
    while (i < s.length && !((s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) || s[i] === '.')) i++;
    const unit = UNIT_MS[s.slice(unitStart, i)];
    if (unit === undefined) return Number.NaN;
    total += num * unit;
    parts++;
  }
  return parts === 0 ? Number.NaN : sign * total;
}

/** Milliseconds to a Go-style duration string ("10s", "1m30s", "250ms"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out = '';
  if (rest < 1000) {
    out = `${+rest.toFixed(6)}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const s = rest / 1000;
    if (h > 0) out += `${h}h`;
    if (h > 0 || m > 0) out += `${m}m`;
    out += `${+s.toFixed(9)}s`;
  }
  return neg ? `-${out}` : out;
}
