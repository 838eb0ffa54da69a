// The writers and readers waiting on a Raft host, each with a deadline on the host's Clock.
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { ChangeSet } from '../store/commands.js';

interface Waiter {
  term: number;
  resolve(c: ChangeSet): void;
  reject(e: Error): void;
  timer: TimerHandle;
}

interface ReadWaiter {
  /** The commit index the read must see applied; null until a quorum confirmed it. */
  index: number | null;
  resolve(): void;
  reject(e: Error): void;
  timer: TimerHandle;
}

export class PendingRequests {
  private readonly writes = new Map<number, Waiter>();
  private readonly reads = new Map<string, ReadWaiter>();

  constructor(private readonly clock: Clock) {}

  get empty(): boolean {
    return this.writes.size === 0 && this.reads.size === 0;
  }

  /** Waits for the entry proposed at index in term to be applied; after ms, rejects with late(). */
  write(index: number, term: number, ms: number, late: () => Error): Promise<ChangeSet> {
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.writes.delete(index);
        reject(late());
      }, ms);
      this.writes.set(index, { term, resolve, reject, timer });
    });
  }

  /** Waits for the read named context to be confirmed and covered; after ms, rejects with late(). */
  read(context: string, ms: number, late: () => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.reads.delete(context);
        reject(late());
      }, ms);
      this.reads.set(context, { index: null, resolve, reject, timer });
    });
  }

  /** The entry at index is of another term than its proposer's: that write was lost. */
  dropIfOtherTerm(index: number, term: number, lost: () => Error): void {
    const w = this.writes.get(index);
    if (!w || w.term === term) return;
    this.writes.delete(index);
    this.settle(w, lost());
  }

  /** The entry at index was applied (its changes) or refused by the store (the error). */
  applied(index: number, outcome: ChangeSet | Error): void {
    const w = this.writes.get(index);
    if (!w) return;
    this.writes.delete(index);
    if (outcome instanceof Error) this.settle(w, outcome);
    else this.settle(w, null, outcome);
  }

  /** Fails the writes waiting on these indexes. */
  failWrites(indexes: readonly number[], err: Error): void {
    for (const [index, w] of this.writes) {
      if (!indexes.includes(index)) continue;
      this.writes.delete(index);
      this.settle(w, err);
    }
  }

  /** Fails every write, then every read. */
  failAll(err: Error): void {
    for (const w of this.writes.values()) this.settle(w, err);
    this.writes.clear();
    for (const r of this.reads.values()) this.settleRead(r, err);
    this.reads.clear();
  }

  /** A quorum confirmed the read named context at this commit index. */
  readState(context: string, index: number): void {
    const r = this.reads.get(context);
    if (r) r.index = index;
  }

  /** Resolves the confirmed reads whose index the store has applied. */
  releaseReads(applied: number): void {
    for (const [ctx, r] of this.reads) {
      if (r.index === null || r.index > applied) continue;
      this.reads.delete(ctx);
      this.settleRead(r, null);
    }
  }

  private settle(w: Waiter, err: Error | null, changes?: ChangeSet): void {
    this.clock.clearTimeout(w.timer);
    if (err) w.reject(err);
    else if (changes) w.resolve(changes);
  }

  private settleRead(r: ReadWaiter, err: Error | null): void {
    this.clock.clearTimeout(r.timer);
    if (err) r.reject(err);
    else r.resolve();
  }
}
