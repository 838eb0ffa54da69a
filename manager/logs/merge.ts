// Merges the lines of a stream's parts by time: a line waits a short while for earlier lines from other nodes.
import type { LogLine } from '../../shared/log-stream.js';

interface Held {
  line: LogLine;
  arrived: number;
  seq: number;
}

/**
 * Lines from several nodes arrive out of order (each node batches, links differ). Each line is
 * held `holdMs` after its arrival; whatever is due then goes out sorted by its time, so lines
 * written within that window on different nodes come out in the order they were written.
 */
export class LogMerger {
  private held: Held[] = [];
  private seq = 0;

  constructor(readonly holdMs: number) {}

  get size(): number {
    return this.held.length;
  }

  push(lines: readonly LogLine[], now: number): void {
    for (const line of lines) this.held.push({ line, arrived: now, seq: this.seq++ });
  }

  /** Lines due at `now` (every line with `all`), oldest first; ties keep their arrival order. */
  take(now: number, all = false): LogLine[] {
    if (this.held.length === 0) return [];
    const due: Held[] = [];
    const rest: Held[] = [];
    for (const h of this.held) (all || now - h.arrived >= this.holdMs ? due : rest).push(h);
    this.held = rest;
    due.sort((a, b) => a.line.t - b.line.t || a.seq - b.seq);
    return due.map((h) => h.line);
  }
}

/** Cuts lines into batches whose JSON stays under `maxBytes` (a line alone may not fit: it goes alone). */
export function batches(lines: readonly LogLine[], maxBytes: number): LogLine[][] {
  const out: LogLine[][] = [];
  let cur: LogLine[] = [];
  let size = 0;
  for (const l of lines) {
    const cost = JSON.stringify(l.x).length + 48;
    if (cur.length > 0 && size + cost > maxBytes) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(l);
    size += cost;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
