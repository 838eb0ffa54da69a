// The agent's own log kept in memory (the last lines, bounded), for `fleet node logs`: the board may have no other.
import { systemClock, type Clock } from '../../shared/clock.js';
import type { LogSink } from '../../shared/log.js';
import { MAX_LINE_CHARS } from '../../shared/log-stream.js';
import type { LogReading, OutputLine, OutputSink, ReadOptions } from '../runtime/log-types.js';

const DEFAULT_MAX_BYTES = 512 * 1024;

export class OwnLog {
  private readonly lines: OutputLine[] = [];
  private bytes = 0;
  private readonly followers = new Set<(line: OutputLine) => void>();

  constructor(
    private readonly clock: Clock = systemClock,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {}

  /** A sink that keeps each line here and passes it on. */
  tee(next: LogSink): LogSink {
    return {
      write: (line) => {
        this.add(line);
        next.write(line);
      },
    };
  }

  add(text: string): void {
    const line: OutputLine = { t: this.clock.now(), x: text.slice(0, MAX_LINE_CHARS) };
    this.lines.push(line);
    this.bytes += line.x.length;
    while (this.bytes > this.maxBytes && this.lines.length > 1) {
      this.bytes -= this.lines.shift()?.x.length ?? 0;
    }
    for (const f of this.followers) f(line);
  }

  /** The kept lines (since, tail), then with follow each new one until closed. */
  read(opts: ReadOptions, sink: OutputSink): LogReading {
    let kept = this.lines.filter((l) => opts.since === undefined || l.t >= opts.since);
    if (opts.tail !== undefined) kept = opts.tail === 0 ? [] : kept.slice(-opts.tail);
    if (!opts.follow) return { done: sink(kept), close: () => undefined };
    // New lines wait in a queue while the sink holds back; the ring's bound applies to it too.
    const queue: OutputLine[] = [];
    let wake: (() => void) | null = null;
    let closed = false;
    const follower = (line: OutputLine): void => {
      queue.push(line);
      if (queue.length > 10_000) queue.shift();
      wake?.();
    };
    this.followers.add(follower);
    const done = (async () => {
      await sink(kept);
      while (!closed) {
        if (queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = null;
        if (queue.length > 0) await sink(queue.splice(0));
      }
    })();
    return {
      done,
      close: () => {
        closed = true;
        this.followers.delete(follower);
        wake?.();
      },
    };
  }
}
