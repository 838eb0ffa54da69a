// Log replication: the leader's appends, flow control, commit and the follower's side of it.
import { Membership } from './conf.js';
import { RaftCore } from './core.js';
import { byteLength } from './log.js';
import { Tracker } from './progress.js';
import { committedIndex, hasQuorum } from './quorum.js';
import type { ConfChange, Entry, Message, NodeId, Snapshot } from './types.js';

export abstract class Replicator extends RaftCore {
  /** Leader: appends new entries of the current term; returns the last index. */
  protected appendEntries(ents: Pick<Entry, 'type' | 'data'>[]): number {
    let index = this.log.lastIndex();
    const full = ents.map((e) => ({ index: ++index, term: this.term, type: e.type, data: e.data }));
    this.log.append(full);
    this.prs.get(this.id)?.maybeUpdate(index);
    this.maybeCommit();
    return index;
  }

  /** Leader: advances commit to the quorum match if that entry is of the current term (§5.4.2). */
  protected maybeCommit(): boolean {
    const mci = committedIndex(this.conf.voters(), (id) => this.prs.get(id)?.match ?? 0);
    if (mci <= this.log.committed || this.log.term(mci) !== this.term) return false;
    const old = this.log.committed;
    this.log.commitTo(mci);
    for (let i = old + 1; i <= mci; i++) {
      this.uncommittedSize -= byteLength(this.log.entry(i)?.data ?? '');
    }
    this.uncommittedSize = Math.max(0, this.uncommittedSize);
    const reads = this.pendingReads;
    this.pendingReads = [];
    for (const ctx of reads) this.handleReadIndex(ctx);
    return true;
  }

  protected committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Leader: answers a ReadIndex at once with a single voter, else after a heartbeat quorum. */
  protected handleReadIndex(context: string): void {
    if (hasQuorum(this.conf.voters(), new Set([this.id]))) {
      this.readStates.push({ context, index: this.log.committed });
      return;
    }
    if (this.readOnly.add(context, this.log.committed, this.id)) this.bcastHeartbeat(context);
  }

  protected peers(): NodeId[] {
    return [...this.prs.keys()].filter((id) => id !== this.id).sort();
  }

  protected bcastHeartbeat(context?: string): void {
    for (const to of this.peers()) {
      const pr = this.prs.get(to);
      const commit = Math.min(pr?.match ?? 0, this.log.committed);
      this.send({ type: 'heartbeat', to, commit, context });
    }
  }

  protected bcastAppend(): void {
    for (const to of this.peers()) this.sendAppend(to, true);
  }

  /** Sends the next append (or the snapshot) to `to` unless its flow control pauses it. */
  protected sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = this.log.slice(pr.next, this.log.lastIndex(), this.cfg.maxSizePerMsg);
    if (prevTerm === undefined || ents === undefined) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    const commit = this.log.committed;
    this.send({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit });
    pr.sentEntries(prevIndex + ents.length, ents.length);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Tracker): boolean {
    // An unresponsive follower would only waste the (large) snapshot.
    if (!pr.recentActive) return false;
    const snapshot = this.log.snapshot;
    if (!snapshot) return false;
    this.send({ type: 'snap', to, snapshot });
    pr.becomeSnapshot(snapshot.meta.index);
    this.trace('send-snapshot', { to, index: snapshot.meta.index });
    return true;
  }

  /**
   * A snapshot neither acknowledged nor reported within two election timeouts was most likely
   * lost (the transport may drop it silently): fall back to probing, which re-sends it.
   */
  protected retryStalledSnapshots(): void {
    for (const id of this.peers()) {
      const pr = this.prs.get(id);
      if (pr?.state !== 'snapshot' || ++pr.snapshotRounds < 2) continue;
      this.trace('snapshot-retry', { to: id, index: pr.pendingSnapshot });
      pr.pendingSnapshot = 0;
      pr.becomeProbe();
    }
  }

  protected sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'timeout-now', to });
  }

  /** Applies one committed membership change (at advance time). */
  protected applyConfChange(cc: ConfChange): void {
    this.conf.apply(cc);
    this.trace('conf-applied', { op: cc.op, node: cc.id });
    if (this.role !== 'leader') return;
    if (!this.conf.isVoter(this.id)) {
      this.trace('step-down', { reason: 'removed' });
      this.becomeFollower(this.term, null);
      return;
    }
    for (const id of this.conf.members()) {
      let pr = this.prs.get(id);
      if (!pr) {
        pr = new Tracker(this.log.lastIndex() + 1, false, this.cfg.maxInflightMsgs);
        pr.recentActive = true; // give the newcomer a full round before check-quorum counts it
        this.prs.set(id, pr);
      }
      pr.learner = this.conf.isLearner(id);
    }
    for (const id of [...this.prs.keys()]) if (!this.conf.isMember(id)) this.prs.delete(id);
    if (this.leadTransferee !== null && !this.conf.isVoter(this.leadTransferee)) {
      this.abortTransfer('removed');
    }
    if (this.maybeCommit()) this.bcastAppend();
  }

  protected handleFromLeader(m: Message): void {
    if (m.type === 'app') this.handleAppend(m);
    else if (m.type === 'heartbeat') this.handleHeartbeat(m);
    else this.handleSnapshot(m);
  }

  protected stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr || m.from === this.id) return;
    if (m.type === 'app-resp') this.handleAppendResp(m, pr);
    else if (m.type === 'heartbeat-resp') this.handleHeartbeatResp(m, pr);
  }

  private handleAppendResp(m: Message, pr: Tracker): void {
    pr.recentActive = true;
    const index = m.index ?? 0;
    if (m.reject) {
      let hint = m.rejectHint ?? 0;
      if ((m.logTerm ?? 0) > 0) hint = this.log.findConflictByTerm(hint, m.logTerm ?? 0);
      if (pr.maybeDecrTo(index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    if (index > this.log.lastIndex()) return; // cannot match what we do not have
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(index)) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.freeTo(index);
    }
    if (this.maybeCommit()) this.bcastAppend();
    else if (wasPaused) this.sendAppend(m.from);
    while (this.role === 'leader' && this.sendAppend(m.from, false)) {
      // fill the inflight window
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResp(m: Message, pr: Tracker): void {
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.isPaused()) pr.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.context === undefined) return;
    const acks = this.readOnly.ack(m.context, m.from);
    if (acks && hasQuorum(this.conf.voters(), acks)) {
      this.readStates.push(...this.readOnly.release(m.context));
    }
  }

  private validEntries(m: Message, prev: number): boolean {
    let i = prev;
    for (const e of m.entries ?? []) {
      if (e.index !== ++i || e.term > m.term) return false;
    }
    return true;
  }

  private handleAppend(m: Message): void {
    const index = m.index ?? 0;
    const ents = m.entries ?? [];
    if (!this.validEntries(m, index)) {
      this.trace('append-ignored', { from: m.from, reason: 'malformed' });
      return;
    }
    if (index < this.log.committed) {
      this.send({ type: 'app-resp', to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(index, m.logTerm ?? 0, m.commit ?? 0, ents);
    if (lastNew !== undefined) {
      this.send({ type: 'app-resp', to: m.from, index: lastNew });
      return;
    }
    // Point the leader at the last entry that can match, skipping whole terms (fast backtrack).
    const hint = this.log.findConflictByTerm(Math.min(index, this.log.lastIndex()), m.logTerm ?? 0);
    const logTerm = this.log.term(hint) ?? 0;
    this.send({ type: 'app-resp', to: m.from, index, reject: true, rejectHint: hint, logTerm });
  }

  private handleHeartbeat(m: Message): void {
    const commit = m.commit ?? 0;
    if (commit <= this.log.lastIndex()) this.log.commitTo(commit);
    else this.trace('heartbeat-commit-ignored', { commit });
    this.send({ type: 'heartbeat-resp', to: m.from, context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (this.restore(s)) {
      this.trace('snapshot-installed', { index: s.meta.index });
      this.send({ type: 'app-resp', to: m.from, index: this.log.lastIndex() });
    } else {
      this.send({ type: 'app-resp', to: m.from, index: this.log.committed });
    }
  }

  private restore(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.log.restore(s);
    this.conf = new Membership(s.meta.conf);
    this.onRestore();
    return true;
  }

  /** Hook: a snapshot replaced the log. */
  protected abstract onRestore(): void;
}
