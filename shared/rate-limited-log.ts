// Logs a repeated complaint once per interval with a count, so a flood of failures cannot flood the log.
import { systemClock, type Clock } from './clock.js';
import type { Logger } from './log.js';

/** Keys remembered at most; past it the memory starts over (keys may come from the network). */
const MAX_KEYS = 10_000;

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 5_000,
    private readonly clock: Pick<Clock, 'now'> = systemClock,
  ) {}

  /** Logs `msg` unless a line under the same key was logged within the interval. */
  warn(key: string, msg: string, fields: Record<string, unknown> = {}): void {
    this.emit('warn', key, msg, fields);
  }

  error(key: string, msg: string, fields: Record<string, unknown> = {}): void {
    this.emit('error', key, msg, fields);
  }

  private emit(
    level: 'warn' | 'error',
    key: string,
    msg: string,
    fields: Record<string, unknown>,
  ): void {
    const t = this.clock.now();
    const entry = this.last.get(key);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.last.set(key, { at: t, suppressed: 0 });
    if (this.last.size > MAX_KEYS) this.last.clear();
    this.logger[level](
      msg,
      suppressed > 0 ? { ...fields, suppressedSinceLast: suppressed } : fields,
    );
  }
}
