// A clock whose wall time can be set off by an offset (the skew-clock fault); its timers run as the clock beneath.
import type { Clock, TimerHandle } from '../../shared/clock.js';

/** Only `now()` shifts: timers and sleeps keep their real lengths, as on a board whose RTC is off. */
export class SkewableClock implements Clock {
  private offsetMs = 0;

  constructor(readonly base: Clock) {}

  /** Sets the offset added to `now()`; 0 undoes the skew. */
  skew(offsetMs: number): void {
    this.offsetMs = offsetMs;
  }

  get offset(): number {
    return this.offsetMs;
  }

  now(): number {
    return this.base.now() + this.offsetMs;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.base.setTimeout(fn, ms);
  }

  clearTimeout(h: TimerHandle): void {
    this.base.clearTimeout(h);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.base.setInterval(fn, ms);
  }

  clearInterval(h: TimerHandle): void {
    this.base.clearInterval(h);
  }

  sleep(ms: number): Promise<void> {
    return this.base.sleep(ms);
  }
}
