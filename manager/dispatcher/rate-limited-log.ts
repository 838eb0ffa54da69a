// Logs a repeated complaint once per interval with a count, so garbage floods cannot flood the log.
import type { Logger } from '../../shared/log.js';

export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(key: string, msg: string, fields: Record<string, unknown>): void {
    this.emit('warn', key, msg, fields);
  }

  error(key: string, msg: string, fields: Record<string, unknown>): void {
    this.emit('error', key, msg, fields);
  }

  private emit(
    level: 'warn' | 'error',
    key: string,
    msg: string,
    fields: Record<string, unknown>,
  ): void {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.last.set(key, { at: t, suppressed: 0 });
    if (this.last.size > 10_000) this.last.clear();
    this.logger[level](
      msg,
      suppressed > 0 ? { ...fields, suppressedSinceLast: suppressed } : fields,
    );
  }
}
