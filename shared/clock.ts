// Time comes in through a Clock so controllers and tests share one notion of "now"; the only place that reads wall time.
export interface Clock {
  now(): number;
  /** Runs fn once after ms. Timers never keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(h: TimerHandle): void;
  /** Runs fn every ms until the handle is cleared with clearInterval. */
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(h: TimerHandle): void;
  /** Resolves after ms of this clock's time. */
  sleep(ms: number): Promise<void>;
}

export interface TimerHandle {
  readonly id: number;
}

export const systemClock: Clock = (() => {
  const timers = new Map<number, NodeJS.Timeout>();
  let next = 1;
  const clear = (h: TimerHandle): void => {
    const t = timers.get(h.id);
    if (t) clearTimeout(t);
    timers.delete(h.id);
  };
  return {
    now: () => Date.now(),
    setTimeout(fn, ms) {
      const id = next++;
      const t = setTimeout(() => {
        timers.delete(id);
        fn();
      }, ms);
      t.unref();
      timers.set(id, t);
      return { id };
    },
    clearTimeout: clear,
    setInterval(fn, ms) {
      const id = next++;
      const t = setInterval(fn, ms);
      t.unref();
      timers.set(id, t);
      return { id };
    },
    clearInterval: clear,
    sleep: (ms) => unrefSleep(ms),
  };
})();

interface FakeTimer {
  due: number;
  fn: () => void;
  /** Set for intervals: the timer is put back this far ahead after it fires. */
  every?: number;
}

/** A clock that only moves when told to; timers fire in order of due time. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 1;
  private timers = new Map<number, FakeTimer>();

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.seq++;
    this.timers.set(id, { due: this.t + Math.max(0, ms), fn });
    return { id };
  }

  clearTimeout(h: TimerHandle): void {
    this.timers.delete(h.id);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.seq++;
    const every = Math.max(1, ms);
    this.timers.set(id, { due: this.t + every, fn, every });
    return { id };
  }

  clearInterval(h: TimerHandle): void {
    this.timers.delete(h.id);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** How many timers are waiting. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by ms, firing every timer that falls due on the way, synchronously. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.nextDue(end);
      if (next === undefined) break;
      this.fire(next);
    }
    this.t = end;
  }

  /**
   * Like advance, but lets promise callbacks run after each timer fires (and before the first),
   * so async code woken by a timer can schedule its next timer within the same advance.
   */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.t + ms;
    await flushMicrotasks();
    for (;;) {
      const next = this.nextDue(end);
      if (next === undefined) break;
      this.fire(next);
      await flushMicrotasks();
    }
    this.t = end;
  }

  private nextDue(end: number): number | undefined {
    let nextId: number | undefined;
    let nextDue = Infinity;
    for (const [id, timer] of this.timers) {
      if (timer.due <= end && timer.due < nextDue) {
        nextDue = timer.due;
        nextId = id;
      }
    }
    return nextId;
  }

  private fire(id: number): void {
    const timer = this.timers.get(id);
    if (!timer) return;
    this.t = Math.max(this.t, timer.due);
    if (timer.every === undefined) this.timers.delete(id);
    else timer.due = this.t + timer.every;
    timer.fn();
  }
}

/** Lets every queued promise callback (and those they queue, a few levels deep) run. */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}

/** Resolves after ms on the real clock, without keeping the process alive meanwhile. */
export const unrefSleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    t.unref();
  });

/**
 * Keeps the process alive until the returned function is called: for a wait whose caller must
 * see it through even when nothing else holds the event loop (Clock timers never do).
 */
export function holdProcessOpen(): () => void {
  const t = setInterval(() => undefined, 1 << 30);
  return () => clearInterval(t);
}
