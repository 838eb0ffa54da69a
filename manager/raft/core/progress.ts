// The leader's view of one follower: match/next, probe/replicate/snapshot states and the inflight window.
import type { Progress } from './types.js';

export type ProgressState = Progress['state'];

export class Tracker {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  recentActive = false;
  learner: boolean;
  /** In probe state: an append was sent and we wait for its answer or a heartbeat response. */
  probeSent = false;
  /** In snapshot state: index of the snapshot sent. */
  pendingSnapshot = 0;
  /** In snapshot state: election timeouts elapsed without an answer. */
  snapshotRounds = 0;
  /** Last index of each append in flight (replicate state), oldest first. */
  private inflights: number[] = [];

  constructor(
    next: number,
    learner: boolean,
    private readonly maxInflight: number,
  ) {
    this.next = next;
    this.learner = learner;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotRounds = 0;
    this.inflights = [];
  }

  becomeProbe(): void {
    // After a snapshot, the follower has at least the snapshot's entries.
    const floor = this.state === 'snapshot' ? this.pendingSnapshot + 1 : 0;
    this.resetState('probe');
    this.next = Math.max(this.match + 1, floor);
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = index;
  }

  /** An append was acknowledged up to n; returns whether match grew. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** An append at `rejected` was refused; hint is the highest index that may match. */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false; // stale rejection
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false; // not the probe we are waiting on
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    if (this.state === 'probe') return this.probeSent;
    if (this.state === 'replicate') return this.inflights.length >= this.maxInflight;
    return true;
  }

  /** Records an append carrying entries up to lastIndex (count entries). */
  sentEntries(lastIndex: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.push(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  freeTo(index: number): void {
    this.inflights = this.inflights.filter((i) => i > index);
  }

  /** Frees the oldest slot so a lost response cannot stall the window forever. */
  freeFirstOne(): void {
    this.inflights.shift();
  }

  inflightCount(): number {
    return this.inflights.length;
  }

  view(): Progress {
    return {
      match: this.match,
      next: this.next,
      state: this.state,
      recentActive: this.recentActive,
      learner: this.learner,
    };
  }
}
