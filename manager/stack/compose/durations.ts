// Go-style durations as Compose writes them (1m30s, 1.5h, 500ms, 10s) and sizes (64M, 1gb, 512k, or a number of bytes).
import { parseBytes } from '../../../shared/spec.js';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds, rounded; null when the text is not a duration. A bare 0 is allowed, as in Go. */
export function parseComposeDuration(text: string): number | null {
  const t = text.trim();
  if (t === '0') return 0;
  if (t === '' || t.length > 64) return null;
  let total = 0;
  let rest = t;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m || !m[1] || !m[2]) return null;
    total += Number(m[1]) * (UNIT_MS[m[2]] ?? 0);
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** Bytes from a Compose size: a number of bytes, or 64M, 1.5g, 512kb, 1gb. */
export function parseComposeBytes(value: string | number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  return parseBytes(value);
}
