// The values `fleet events` takes: times (RFC 3339, Unix seconds, or a duration back from now) and --filter KEY=VALUE.
import {
  EVENT_FILTER_KEYS,
  EVENT_TYPES,
  type EventFilters,
  type EventType,
} from '../../../shared/events.js';
import { invalid } from '../usage.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** An RFC 3339 date, with or without its time (Docker also takes these). */
const DATE_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A time as `docker events --since` takes it, in milliseconds since the epoch: an RFC 3339 time
 * (2026-12-07T13:20:01Z), a Unix timestamp in seconds (1765113601), or a duration such as 10m,
 * 1h30m or 2d, which counts back from `now`.
 */
export function parseEventTime(flag: string, text: string, now: number): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const back = durationMs(t);
  if (back !== null) return now - back;
  const at = DATE_RE.test(t) ? Date.parse(t.replace(' ', 'T')) : NaN;
  if (Number.isNaN(at))
    throw invalid(
      flag,
      text,
      'an RFC 3339 time, a Unix timestamp, or a duration such as 10m or 1h',
    );
  return at;
}

/** "1h30m" → 5400000; null unless the text is one or more NUMBER+UNIT parts. */
function durationMs(text: string): number | null {
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  }
  return Math.round(total);
}

/** Every --filter given, grouped by key: type=node|task|service|update|manager, node=, service=. */
export function parseEventFilters(values: readonly string[]): EventFilters {
  const f: EventFilters = { type: [], node: [], service: [] };
  const keys = EVENT_FILTER_KEYS.map((k) => `${k}=`).join(', ');
  for (const raw of values) {
    const eq = raw.indexOf('=');
    const key = eq > 0 ? raw.slice(0, eq).trim() : '';
    const value = eq > 0 ? raw.slice(eq + 1).trim() : '';
    if (!value || !(EVENT_FILTER_KEYS as readonly string[]).includes(key))
      throw invalid('filter', raw, `KEY=VALUE with a key of ${keys}`);
    if (key === 'type') {
      if (!(EVENT_TYPES as readonly string[]).includes(value))
        throw invalid('filter', raw, `type=${EVENT_TYPES.join('|')}`);
      f.type.push(value as EventType);
    } else if (key === 'node') f.node.push(value);
    else f.service.push(value);
  }
  return f;
}
