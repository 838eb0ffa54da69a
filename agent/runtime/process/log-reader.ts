// Reads a process task's log like `docker logs`: the rotated copies and the file, then (with follow) what it writes next.
import { promises as fs } from 'node:fs';
import type { Clock } from '../../../shared/clock.js';
import { MAX_LINE_CHARS } from '../../../shared/log-stream.js';
import type { LogReading, OutputLine, OutputSink, ReadOptions } from '../log-types.js';
import type { LogBook } from './log-book.js';

/** How often a followed log is looked at for new bytes. */
const POLL_MS = 100;
/** Bytes read at a time; the sink's back-pressure applies between reads. */
const READ_BYTES = 64 * 1024;

export interface ProcessLogSource {
  book: LogBook;
  taskId: string;
  clock: Clock;
  /** The task still runs: a followed log ends once it stopped and everything was read. */
  running(): boolean;
}

export function readProcessLog(
  src: ProcessLogSource,
  opts: ReadOptions,
  sink: OutputSink,
): LogReading {
  const state = { closed: false };
  const done = run(src, opts, sink, state);
  return { done, close: () => (state.closed = true) };
}

async function run(
  src: ProcessLogSource,
  opts: ReadOptions,
  sink: OutputSink,
  state: { closed: boolean },
): Promise<void> {
  const { pos, rest } = await sendHistory(src, opts, sink);
  if (!opts.follow || state.closed) return flushRest(rest, src.clock.now(), sink);
  await follow(src, sink, state, pos, rest);
}

/** Every kept generation, oldest first, filtered by since and cut to the tail. */
async function sendHistory(
  src: ProcessLogSource,
  opts: ReadOptions,
  sink: OutputSink,
): Promise<{ pos: number; rest: string }> {
  const kept: OutputLine[] = [];
  let pos = 0;
  let rest = '';
  for (let gen = src.book.rotation.files - 1; gen >= 0; gen--) {
    const data = await fs.readFile(src.book.fileOf(src.taskId, gen)).catch(() => null);
    if (gen === 0) pos = data?.length ?? 0;
    if (!data) continue;
    const { lines, ends, tail } = linesWithEnds(data);
    const times = await src.book.timesOf(src.taskId, gen, ends);
    lines.forEach((x, i) => {
      const t = times[i] ?? src.clock.now();
      if (opts.since === undefined || t >= opts.since) kept.push({ t, x });
    });
    if (opts.tail !== undefined && kept.length > opts.tail) kept.splice(0, kept.length - opts.tail);
    // A line without its newline yet, in the file written: it ends on a later read.
    if (gen === 0) rest = tail;
  }
  for (let i = 0; i < kept.length; i += 500) await sink(kept.slice(i, i + 500));
  return { pos, rest };
}

async function follow(
  src: ProcessLogSource,
  sink: OutputSink,
  state: { closed: boolean },
  startPos: number,
  startRest: string,
): Promise<void> {
  const file = src.book.fileOf(src.taskId);
  let pos = startPos;
  let rest = startRest;
  while (!state.closed) {
    const size = (await fs.stat(file).catch(() => null))?.size ?? null;
    if (size === null) return flushRest(rest, src.clock.now(), sink); // removed
    if (size < pos) {
      // Rotated since the last look: what was left unread is at the end of the first copy.
      const left = await readRange(src.book.fileOf(src.taskId, 1), pos, Infinity);
      if (left === null) {
        await sink([
          {
            t: src.clock.now(),
            m: true,
            x: '-- lines were rotated away before they could be sent --',
          },
        ]);
      } else rest = await emit(rest + left.toString('utf8'), src.clock.now(), sink);
      pos = 0;
      continue;
    }
    if (size > pos) {
      const chunk = await readRange(file, pos, Math.min(size, pos + READ_BYTES));
      if (chunk === null) continue;
      pos += chunk.length;
      rest = await emit(rest + chunk.toString('utf8'), src.clock.now(), sink);
      continue;
    }
    if (!src.running()) return flushRest(rest, src.clock.now(), sink);
    await src.clock.sleep(POLL_MS);
  }
}

/** Sends the whole lines in `text`; returns what follows the last newline. */
async function emit(text: string, t: number, sink: OutputSink): Promise<string> {
  const parts = text.split('\n');
  let rest = parts.pop() ?? '';
  // A line that never ends is sent in pieces rather than held without bound.
  while (rest.length > MAX_LINE_CHARS) {
    parts.push(rest.slice(0, MAX_LINE_CHARS));
    rest = rest.slice(MAX_LINE_CHARS);
  }
  if (parts.length > 0) await sink(parts.map((x) => ({ t, x: clip(x) })));
  return rest;
}

async function flushRest(rest: string, t: number, sink: OutputSink): Promise<void> {
  if (rest.length > 0) await sink([{ t, x: clip(rest) }]);
}

/** Bytes [from, to) of a file; null when the file is gone or shorter than `from`. */
async function readRange(file: string, from: number, to: number): Promise<Buffer | null> {
  const fh = await fs.open(file, 'r').catch(() => null);
  if (!fh) return null;
  try {
    const size = (await fh.stat()).size;
    const end = Math.min(size, to);
    if (end < from) return null;
    const buf = Buffer.alloc(end - from);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The whole lines of a buffer, each with the offset just past its newline, and the rest. */
function linesWithEnds(data: Buffer): { lines: string[]; ends: number[]; tail: string } {
  const lines: string[] = [];
  const ends: number[] = [];
  let start = 0;
  for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, start)) {
    const line = data.toString('utf8', start, i);
    lines.push(clip(line.endsWith('\r') ? line.slice(0, -1) : line));
    ends.push(i + 1);
    start = i + 1;
  }
  return { lines, ends, tail: data.toString('utf8', start) };
}

const clip = (x: string): string => (x.length > MAX_LINE_CHARS ? x.slice(0, MAX_LINE_CHARS) : x);
