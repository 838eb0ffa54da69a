// The Ready cycle of a manager's Raft core: tick, persist, send, apply, advance; snapshots and compaction.
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { FleetError, errorMessage } from '../../shared/errors.js';
import type { ChangeSet } from '../store/commands.js';
import { isWriteConflict, storageFailure } from '../store/conflict.js';
import { RaftNode } from './core/index.js';
import type { Entry, RaftConfig, Ready, Snapshot, SoftState } from './core/index.js';
import { applyEntry } from './apply.js';
import type { RaftHostOptions, RaftTiming } from './host-options.js';

const MAX_MSG_BYTES = 512 * 1024;
const MAX_UNCOMMITTED_BYTES = 32 * 1024 * 1024;
/** Entry bytes applied since the last snapshot that trigger the next one. */
const COMPACT_BYTES = 4 * 1024 * 1024;
/** How long the loop pauses after the log or the store failed to write, before trying again. */
const STALL_MS = 1_000;

/** What the loop tells its host as it goes. */
export interface ReadyEvents {
  /** A committed entry is about to be applied. */
  applying(e: Entry): void;
  /** A committed entry was applied (its changes) or refused by the store (the error). */
  applied(e: Entry, outcome: ChangeSet | Error): void;
  softState(s: SoftState): void;
  readState(context: string, index: number): void;
  /** The Raft log could not be written: these entries were written nowhere. */
  logFailed(entries: Entry[], err: FleetError): void;
  /** Every Ready there was has been handled. */
  caughtUp(): void;
}

export class ReadyLoop {
  private current: RaftNode;
  private ticker: TimerHandle | undefined;
  private pumpScheduled = false;
  private pumping = false;
  private stalledUntil = 0;
  private stoppedFlag = false;
  private bytesSinceSnapshot = 0;
  private snapshotIndex = 0;
  /** A Ready persisted and sent whose committed entries the store has not all taken yet. */
  private unapplied: Ready | null = null;
  /** Set while the Raft log cannot be written (a full disk): writes are refused with it. */
  private logError: FleetError | null = null;

  constructor(
    private readonly opts: RaftHostOptions,
    private readonly timing: RaftTiming,
    private readonly clock: Clock,
    private readonly events: ReadyEvents,
  ) {
    this.current = this.boot();
  }

  /** The core; replaced by a fresh one from disk when the log could not be written. */
  get node(): RaftNode {
    return this.current;
  }

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  get storageError(): FleetError | null {
    return this.logError;
  }

  start(): void {
    this.ticker = this.clock.setInterval(() => {
      this.current.tick();
      this.pump();
    }, this.timing.tickMs);
    this.campaignIfAlone();
    this.pump();
  }

  stop(): void {
    this.stoppedFlag = true;
    if (this.ticker) this.clock.clearInterval(this.ticker);
  }

  /** Ends the pause after a failed write and tries again now. */
  retryNow(): void {
    this.stalledUntil = 0;
    this.pump();
  }

  /** Pumps on a later turn of the event loop, once for any number of calls before it. */
  schedulePump(): void {
    if (this.pumpScheduled || this.stoppedFlag) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Processes every pending Ready: persist, send, apply, advance. */
  pump(): void {
    if (this.pumping || this.stoppedFlag || this.clock.now() < this.stalledUntil) return;
    this.pumping = true;
    try {
      // A Ready whose entries could not all be applied is finished before any new one.
      if (this.unapplied && !this.finish(this.unapplied)) return;
      while (this.current.hasReady()) {
        const rd = this.current.ready();
        if (!this.persist(rd)) return;
        if (rd.snapshot) this.installSnapshot(rd.snapshot);
        this.opts.transport.send(rd.messages);
        if (!this.finish(rd)) return;
      }
      this.events.caughtUp();
      this.maybeCompact();
    } finally {
      this.pumping = false;
    }
  }

  /** A lone manager need not wait out an election timeout to lead again. */
  private campaignIfAlone(): void {
    const { voters } = this.current.status().conf;
    if (voters.length === 1 && voters[0] === this.opts.id) this.current.campaign();
  }

  private boot(): RaftNode {
    const saved = this.opts.storage.load();
    const store = this.opts.store;
    if (saved.snapshot && store.appliedIndex < saved.snapshot.meta.index) {
      // The state database lost transactions the log no longer holds: start from the snapshot.
      store.restore(saved.snapshot.data);
    }
    this.snapshotIndex = saved.snapshot?.meta.index ?? 0;
    const config: RaftConfig = {
      id: this.opts.id,
      electionTick: this.timing.electionTicks,
      heartbeatTick: this.timing.heartbeatTicks,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: MAX_MSG_BYTES,
      maxInflightMsgs: 64,
      maxUncommittedSize: MAX_UNCOMMITTED_BYTES,
      random: this.opts.random ?? Math.random,
    };
    const applied = Math.max(store.appliedIndex, saved.snapshot?.meta.index ?? 0);
    return new RaftNode(config, { ...saved, applied });
  }

  /** Applies the Ready's committed entries, then advances; false while the store refuses. */
  private finish(rd: Ready): boolean {
    if (!this.applyAll(rd.committed)) {
      this.unapplied = rd;
      return false;
    }
    this.unapplied = null;
    this.current.advance();
    if (rd.softState) this.events.softState(rd.softState);
    for (const rs of rd.readStates) this.events.readState(rs.context, rs.index);
    return true;
  }

  /** Writes the Ready's hard state, snapshot and entries; on failure restarts the core from disk. */
  private persist(rd: Ready): boolean {
    try {
      this.opts.storage.save({
        ...(rd.hardState ? { hardState: rd.hardState } : {}),
        ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
        entries: rd.entries,
      });
      this.logError = null;
      return true;
    } catch (e) {
      // Nothing of this Ready was sent: dropping it is what a crash here would do, and keeps
      // the promise that a refused write was written nowhere.
      this.opts.logger.error('could not write the Raft log; restarting consensus from disk', {
        error: errorMessage(e),
      });
      const err = new FleetError(
        'internal',
        storageFailure(e, 'its Raft log') ??
          `the manager could not write its Raft log (${errorMessage(e)}); nothing was written`,
      );
      this.logError = err;
      this.events.logFailed(rd.entries, err);
      this.current = this.boot();
      this.events.softState({ leader: null, role: 'follower' });
      this.campaignIfAlone();
      this.stalledUntil = this.clock.now() + STALL_MS;
      return false;
    }
  }

  private installSnapshot(s: Snapshot): void {
    this.opts.logger.info('installing snapshot from the leader', { index: s.meta.index });
    this.opts.store.restore(s.data);
    this.snapshotIndex = s.meta.index;
  }

  /** Applies committed entries in order; false when the store failed and the rest must wait. */
  private applyAll(entries: Entry[]): boolean {
    for (const e of entries) {
      if (e.index <= this.opts.store.appliedIndex) continue;
      try {
        this.applyOne(e);
      } catch (err) {
        // A full disk on this replica: it must not skip the entry, so it waits and retries.
        this.opts.logger.error('could not apply a committed entry; retrying in 1s', {
          index: e.index,
          error: errorMessage(err),
        });
        this.stalledUntil = this.clock.now() + STALL_MS;
        return false;
      }
      this.bytesSinceSnapshot += e.data.length;
    }
    return true;
  }

  private applyOne(e: Entry): void {
    this.events.applying(e);
    let outcome: ChangeSet | Error;
    try {
      outcome = applyEntry(this.opts.store, e);
    } catch (err) {
      // Any other failure leaves the entry to be applied again, its proposer still waiting.
      if (!isWriteConflict(err)) throw err;
      outcome = err;
    }
    this.events.applied(e, outcome);
  }

  /**
   * Snapshots the store and drops the log behind it every `snapshotEvery` entries, or sooner when
   * the entries since the last snapshot hold many bytes: the log lives in memory too.
   */
  private maybeCompact(): void {
    const every = this.opts.snapshotEvery ?? 1_000;
    const applied = this.opts.store.appliedIndex;
    const byCount = applied - this.snapshotIndex >= every;
    const bySize = this.bytesSinceSnapshot >= COMPACT_BYTES && applied > this.snapshotIndex;
    if (!byCount && !bySize) return;
    const retain = this.opts.retainEntries ?? 100;
    const snap = this.current.compact(this.opts.store.dump(), retain);
    this.bytesSinceSnapshot = 0;
    if (!snap) return;
    const first = this.current.status().firstIndex;
    try {
      this.opts.storage.compact(snap, first);
      this.snapshotIndex = snap.meta.index;
    } catch (e) {
      this.opts.logger.warn('could not save a snapshot; the log keeps growing', {
        error: errorMessage(e),
      });
    }
  }
}
