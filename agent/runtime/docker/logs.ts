// Reads a container's log from the engine (docker logs): demultiplexed, stamped by the engine, with back-pressure.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { errorMessage } from '../../../shared/errors.js';
import { MAX_LINE_CHARS } from '../../../shared/log-stream.js';
import type { LogReading, OutputLine, OutputSink, ReadOptions } from '../log-types.js';

export function readContainerLog(
  docker: Docker,
  runtimeId: string,
  opts: ReadOptions,
  sink: OutputSink,
  now: () => number,
): LogReading {
  let stream: Readable | null = null;
  let closed = false;
  const done = (async () => {
    const c = docker.getContainer(runtimeId);
    const base = { stdout: true, stderr: true, timestamps: true } as const;
    const since = opts.since !== undefined ? Math.floor(opts.since / 1000) : undefined;
    const window = {
      ...(since !== undefined ? { since } : {}),
      ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
    };
    const lines = new EngineLines(opts.since);
    try {
      if (!opts.follow) {
        const buf = await c.logs({ ...base, ...window, follow: false });
        await sinkAll(lines.push(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf))), sink);
        return sinkAll(lines.end(now()), sink);
      }
      stream = (await c.logs({ ...base, ...window, follow: true })) as unknown as Readable;
      if (closed) {
        stream.destroy();
        return;
      }
      await pump(stream, lines, sink, now);
    } catch (e) {
      if (closed) return;
      await sink([{ t: now(), m: true, x: `-- the engine gave no log: ${errorMessage(e)} --` }]);
    }
  })();
  return {
    done,
    close: () => {
      closed = true;
      stream?.destroy();
    },
  };
}

/** Feeds the stream through the splitter; pauses it while the sink holds lines back. */
function pump(
  stream: Readable,
  lines: EngineLines,
  sink: OutputSink,
  now: () => number,
): Promise<void> {
  return new Promise((resolve) => {
    let queue = Promise.resolve();
    stream.on('data', (chunk: Buffer) => {
      stream.pause();
      queue = queue.then(() => sinkAll(lines.push(chunk), sink)).finally(() => stream.resume());
    });
    const finish = (): void =>
      void queue.then(() => sinkAll(lines.end(now()), sink)).finally(resolve);
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
  });
}

async function sinkAll(lines: OutputLine[], sink: OutputSink): Promise<void> {
  for (let i = 0; i < lines.length; i += 500) await sink(lines.slice(i, i + 500));
}

/**
 * The engine's log stream: without a TTY, frames of an 8-byte header (stream 1 or 2, three
 * zero bytes, a 32-bit length) and the bytes; with one, the raw output. Each line starts with
 * the engine's RFC 3339 time, which becomes the line's time.
 */
export class EngineLines {
  private buf: Buffer = Buffer.alloc(0);
  private raw: boolean | null = null;
  private readonly rest = { out: '', err: '' };
  private ended = false;

  constructor(private readonly since?: number) {}

  push(chunk: Buffer): OutputLine[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.raw ??= !looksFramed(this.buf);
    if (this.raw) {
      const text = this.buf.toString('utf8');
      this.buf = Buffer.alloc(0);
      return this.lines('out', text);
    }
    const out: OutputLine[] = [];
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + len) break;
      const kind = this.buf[0] === 2 ? 'err' : 'out';
      out.push(...this.lines(kind, this.buf.toString('utf8', 8, 8 + len)));
      this.buf = this.buf.subarray(8 + len);
    }
    return out;
  }

  /** Whatever was left without its newline. */
  end(now: number): OutputLine[] {
    if (this.ended) return [];
    this.ended = true;
    const out: OutputLine[] = [];
    for (const kind of ['out', 'err'] as const) {
      if (this.rest[kind].length > 0) out.push(this.line(kind, this.rest[kind], now));
      this.rest[kind] = '';
    }
    return out.filter((l) => this.since === undefined || l.t >= this.since);
  }

  private lines(kind: 'out' | 'err', text: string): OutputLine[] {
    const parts = (this.rest[kind] + text).split('\n');
    let rest = parts.pop() ?? '';
    while (rest.length > MAX_LINE_CHARS) {
      parts.push(rest.slice(0, MAX_LINE_CHARS));
      rest = rest.slice(MAX_LINE_CHARS);
    }
    this.rest[kind] = rest;
    const out = parts.map((p) => this.line(kind, p.endsWith('\r') ? p.slice(0, -1) : p, null));
    return out.filter((l) => this.since === undefined || l.t >= this.since);
  }

  private line(kind: 'out' | 'err', text: string, fallback: number | null): OutputLine {
    const space = text.indexOf(' ');
    const t = space > 0 ? Date.parse(text.slice(0, space)) : NaN;
    const stamped = Number.isFinite(t);
    const x = (stamped ? text.slice(space + 1) : text).slice(0, MAX_LINE_CHARS);
    return { t: stamped ? t : (fallback ?? 0), ...(kind === 'err' ? { e: true } : {}), x };
  }
}

function looksFramed(buf: Buffer): boolean {
  if (buf.length < 8) return buf.length > 0 && (buf[0] ?? 9) <= 2;
  return (buf[0] ?? 9) <= 2 && buf[1] === 0 && buf[2] === 0 && buf[3] === 0;
}
