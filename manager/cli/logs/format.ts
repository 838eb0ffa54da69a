// How `fleet service logs` and `fleet node logs` read their flags and print lines: Docker's prefixes and times.
import type { LogLine, LogPart } from '../../../shared/log-stream.js';
import { parseDuration } from '../../../shared/spec.js';
import { invalid } from '../usage.js';

/**
 * --since: a Unix time in seconds (1765105404 or 1765105404.5), an RFC 3339 date
 * (2026-12-07T13:00:00Z, or just 2026-12-07), or a duration back from now (90s, 10m, 2h).
 */
export function parseSince(text: string, now: number): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const back = /^\d/.test(t) && !/[-:T]/.test(t) ? parseDuration(t) : null;
  if (back !== null) return now - back;
  const date = Date.parse(t);
  if (Number.isFinite(date)) return date;
  throw invalid(
    'since',
    text,
    'a Unix time, a date such as 2026-12-07T13:00:00Z or a duration such as 10m',
  );
}

/** --tail: a count of lines from the end of each log, or "all". */
export function parseTail(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'all' || t === '-1') return undefined;
  if (!/^\d+$/.test(t) || Number(t) > 1_000_000)
    throw invalid('tail', text, 'a number of lines or "all"');
  return Number(t);
}

export interface PrintOptions {
  timestamps: boolean;
  taskIds: boolean;
}

/** Each part's prefix, padded to the longest so the bars line up: web.2.<task id>@node-3. */
export function prefixes(parts: readonly LogPart[], opts: PrintOptions): Map<number, string> {
  const raw = parts.map((p): [number, string] => {
    if (p.taskId === undefined) return [p.key, p.node];
    return [p.key, opts.taskIds ? `${p.name}.${p.taskId}@${p.node}` : `${p.name}@${p.node}`];
  });
  const width = Math.max(0, ...raw.map(([, s]) => s.length));
  return new Map(raw.map(([k, s]) => [k, s.padEnd(width)]));
}

/** One printed line: `prefix | [time ]text`; a node's own log has no prefix, like docker logs. */
export function formatLine(
  line: LogLine,
  prefix: string | undefined,
  opts: PrintOptions,
  bare: boolean,
): string {
  const time = opts.timestamps ? `${new Date(line.t).toISOString()} ` : '';
  return bare ? `${time}${line.x}` : `${prefix ?? '?'} | ${time}${line.x}`;
}
