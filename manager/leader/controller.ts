// The shapes leader-only parts share: start/stop, and controllers woken by store changes one pass at a time.
import type { Logger } from '../../shared/log.js';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { ChangeSet } from '../store/commands.js';
import { isWriteConflict } from '../store/conflict.js';
import type { Propose, StoreView } from '../store/view.js';

export type { Propose } from '../store/view.js';

/** A failed pass (say, a full disk refusing the write) is retried this much later. */
const RETRY_MS = 1_000;
/** At most one "pass failed" line per controller this often, with a count of the rest. */
const FAILURE_LOG_MS = 10_000;

/**
 * A part that runs only on the leader (controllers, dispatcher, ingress, membership): started in
 * order when this manager leads with its applied index caught up, stopped in reverse when it stops.
 * A start that returns a promise is awaited before the next part starts.
 */
export interface LeaderPart {
  start(): void | Promise<void>;
  stop(): void;
}

/** What a controller is given: the store to read and watch, and a way to write through Raft. */
export interface ControllerDeps {
  store: StoreView;
  propose: Propose;
  logger: Logger;
  clock: Clock;
}

export abstract class Controller implements LeaderPart {
  private scheduled = false;
  private running = false;
  private again = false;
  private stopped = true;
  private sweepTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private failures = { loggedAt: -Infinity, suppressed: 0 };
  private unsubscribe: (() => void) | undefined;

  constructor(
    protected readonly deps: ControllerDeps,
    private readonly sweepMs: number,
  ) {}

  start(): void {
    this.stopped = false;
    this.unsubscribe ??= this.deps.store.onChange((c) => {
      if (this.interested(c)) this.kick();
    });
    this.kick();
    this.armSweep();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.sweepTimer) this.deps.clock.clearTimeout(this.sweepTimer);
    if (this.retryTimer) this.deps.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Asks for a pass soon; many kicks before it runs make one pass. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.runPass());
  }

  /** Whether a change concerns this controller. */
  protected abstract interested(c: ChangeSet): boolean;
  protected abstract reconcile(): Promise<void>;

  private async runPass(): Promise<void> {
    this.scheduled = false;
    if (this.stopped) return;
    this.running = true;
    try {
      await this.reconcile();
    } catch (e) {
      // Another writer changed what this pass read: run again on the fresh state.
      if (isWriteConflict(e)) this.again = true;
      else this.noteFailure(e);
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      this.kick();
    }
  }

  /** Logs (rate-limited) and retries after a pause: a pass that keeps failing must not spin. */
  private noteFailure(e: unknown): void {
    const now = this.deps.clock.now();
    if (now - this.failures.loggedAt >= FAILURE_LOG_MS) {
      const suppressed = this.failures.suppressed;
      this.failures = { loggedAt: now, suppressed: 0 };
      this.deps.logger.error('reconcile pass failed; will retry', {
        error: String(e),
        ...(suppressed > 0 ? { suppressedSinceLast: suppressed } : {}),
      });
    } else {
      this.failures.suppressed++;
    }
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, RETRY_MS);
  }

  private armSweep(): void {
    this.sweepTimer = this.deps.clock.setTimeout(() => {
      this.kick();
      if (!this.stopped) this.armSweep();
    }, this.sweepMs);
  }
}
