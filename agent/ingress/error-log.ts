// Rate-limited warnings for forwarding errors: a failing port logs one line per reason per interval.
import type { Logger } from '../../shared/log.js';

/** One line per reason this often at most; the lines in between are counted, not printed. */
const DEFAULT_INTERVAL_MS = 10_000;

export class ForwardErrorLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = DEFAULT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs `msg` unless the same message was logged within the interval. */
  warn(msg: string, fields: Record<string, unknown> = {}): void {
    const t = this.now();
    const entry = this.last.get(msg);
    if (entry && t - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    // The messages are a handful of fixed strings: the map cannot grow past them.
    this.last.set(msg, { at: t, suppressed: 0 });
    const suppressed = entry?.suppressed ?? 0;
    this.logger.warn(msg, suppressed > 0 ? { ...fields, suppressedSinceLast: suppressed } : fields);
  }
}
