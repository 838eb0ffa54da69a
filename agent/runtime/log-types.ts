// What a runtime's log reader hands the agent: stamped lines, with back-pressure, until the log ends or the reading is closed.
import type { ReadOptions } from '../../shared/log-stream.js';

export type { ReadOptions };

/** One line of a workload's output: when it was written (ms), stderr or not, its text. */
export interface OutputLine {
  t: number;
  /** From stderr. */
  e?: boolean;
  /** Written by fleet, not the workload (say, lines skipped). */
  m?: boolean;
  x: string;
}

/**
 * Where a reader puts lines. The reader reads no further until the promise settles: that is
 * the back-pressure a slow link or a spent budget puts on it.
 */
export type OutputSink = (lines: OutputLine[]) => Promise<void>;

/** A reading in progress: `done` settles when the log ended (without follow, at its end). */
export interface LogReading {
  done: Promise<void>;
  close(): void;
}

/** Splits text into lines; the part after the last newline is returned apart, to wait for more. */
export function splitLines(text: string): { lines: string[]; rest: string } {
  const parts = text.split('\n');
  const rest = parts.pop() ?? '';
  return { lines: parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)), rest };
}
