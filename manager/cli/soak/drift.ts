// Memory and open-file drift of each process over a run: a least-squares line through its samples.
import type { ProcessSample, Violation } from './model.js';

export interface Drift {
  process: string;
  samples: number;
  /** Over the longest stretch with one pid (a restarted process starts a new stretch). */
  spanMs: number;
  rssStartMb: number;
  rssEndMb: number;
  /** Slope of the fitted line, per hour. */
  rssMbPerHour: number;
  filesPerHour: number;
  /** Mean CPU use over the stretch, % of one core. */
  cpuPercent: number;
}

/** The slope of y over x by least squares (0 for fewer than two distinct x). */
export function slope(points: readonly [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) * (x - mx);
  }
  return den === 0 ? 0 : num / den;
}

const HOUR = 3_600_000;
const MB = 1024 * 1024;

/** Each process's drift; samples from the first tenth of the run are left out (warm-up). */
export function drifts(samples: readonly ProcessSample[], runMs: number): Drift[] {
  const warm = runMs / 10;
  const by = new Map<string, ProcessSample[]>();
  for (const s of samples) {
    if (s.t < warm) continue;
    const list = by.get(s.process) ?? [];
    list.push(s);
    by.set(s.process, list);
  }
  const out: Drift[] = [];
  for (const [process, list] of by) {
    const stretch = longestStretch(list);
    const first = stretch[0];
    const last = stretch[stretch.length - 1];
    if (!first || !last) continue;
    const spanMs = last.t - first.t;
    out.push({
      process,
      samples: stretch.length,
      spanMs,
      rssStartMb: first.rssBytes / MB,
      rssEndMb: last.rssBytes / MB,
      rssMbPerHour: (slope(stretch.map((s) => [s.t, s.rssBytes])) * HOUR) / MB,
      filesPerHour: slope(stretch.map((s) => [s.t, s.openFiles])) * HOUR,
      cpuPercent: spanMs > 0 ? ((last.cpuMs - first.cpuMs) / spanMs) * 100 : 0,
    });
  }
  return out.sort((a, b) => a.process.localeCompare(b.process));
}

/** A new stretch begins where CPU time went backwards: the process was restarted. */
function longestStretch(list: readonly ProcessSample[]): ProcessSample[] {
  let best: ProcessSample[] = [];
  let cur: ProcessSample[] = [];
  for (const s of list) {
    const prev = cur[cur.length - 1];
    if (prev && s.cpuMs < prev.cpuMs) cur = [];
    cur.push(s);
    if (cur.length > best.length) best = cur;
  }
  return best;
}

/**
 * Drift worth a violation: over at least ten minutes, the line grows by more than a fifth of
 * where it started and more than 32 MB, or by more than 64 open files.
 */
export function driftViolations(list: readonly Drift[], minSpanMs = 10 * 60_000): Violation[] {
  const out: Violation[] = [];
  for (const d of list) {
    if (d.spanMs < minSpanMs) continue;
    const grownMb = (d.rssMbPerHour * d.spanMs) / HOUR;
    const grownFiles = (d.filesPerHour * d.spanMs) / HOUR;
    if (grownMb > Math.max(32, d.rssStartMb * 0.2) || grownFiles > 64)
      out.push({
        invariant: 'no-resource-drift',
        from: 0,
        detail: `${d.process}: RSS ${d.rssMbPerHour.toFixed(1)} MB/h, open files ${d.filesPerHour.toFixed(0)}/h over ${Math.round(d.spanMs / 60_000)} min`,
      });
  }
  return out;
}
