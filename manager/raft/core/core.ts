// Raft state machine: role transitions, elections and message handling (no I/O, no clock).
import { Membership, parseConfChange, validateBoot, validateConfig } from './conf.js';
import { byteLength, RaftLog } from './log.js';
import { Tracker } from './progress.js';
import { committedIndex, hasQuorum, voteResult } from './quorum.js';
import { ReadOnlyQueue } from './read-only.js';
import type {
  ConfChange,
  Entry,
  Message,
  NodeId,
  RaftBootState,
  RaftConfig,
  ReadState,
  Role,
  Snapshot,
} from './types.js';

type StepFn = (this: RaftCore, m: Message) => void;
type TickFn = (this: RaftCore) => void;
type Outgoing = Omit<Message, 'from' | 'term'> & { term?: number };

export abstract class RaftCore {
  protected readonly cfg: RaftConfig;
  protected readonly id: NodeId;
  protected log: RaftLog;
  protected conf: Membership;
  protected term: number;
  protected vote: NodeId | null;
  protected role: Role = 'follower';
  protected lead: NodeId | null = null;
  protected electionElapsed = 0;
  protected heartbeatElapsed = 0;
  protected randomizedTimeout = 0;
  /** Leader only: progress of every member, self included. */
  protected prs = new Map<NodeId, Tracker>();
  protected votes = new Map<NodeId, boolean>();
  protected msgs: Message[] = [];
  protected readStates: ReadState[] = [];
  protected leadTransferee: NodeId | null = null;
  /** Index of the latest conf entry the leader appended; a new one waits until it is applied. */
  protected pendingConfIndex = 0;
  protected uncommittedSize = 0;
  protected readOnly = new ReadOnlyQueue();
  /** ReadIndex requests waiting for the leader's first commit in its term. */
  protected pendingReads: string[] = [];
  protected stepFn: StepFn;
  protected tickFn: TickFn;

  constructor(config: RaftConfig, boot: RaftBootState) {
    validateConfig(config);
    validateBoot(boot);
    this.cfg = config;
    this.id = config.id;
    const hs = boot.hardState;
    this.log = new RaftLog(boot.snapshot, boot.entries, hs.commit, boot.applied);
    this.term = hs.term;
    this.vote = hs.vote;
    // Conf entries up to commit are in effect; replaying them at advance() is idempotent.
    this.conf = new Membership(boot.snapshot?.meta.conf);
    const snapIndex = boot.snapshot?.meta.index ?? 0;
    for (const e of boot.entries) {
      if (e.index <= snapIndex || e.index > hs.commit) continue;
      const cc = parseConfChange(e);
      if (cc) this.conf.apply(cc);
    }
    this.stepFn = this.stepFollower;
    this.tickFn = this.tickElection;
    this.becomeFollower(this.term, null);
  }

  protected trace(event: string, fields: Record<string, unknown> = {}): void {
    this.cfg.trace?.(event, { id: this.id, term: this.term, ...fields });
  }

  protected send(m: Outgoing): void {
    this.msgs.push({ ...m, from: this.id, term: m.term ?? this.term });
  }

  protected promotable(): boolean {
    return this.conf.isVoter(this.id);
  }

  private resetRandomizedTimeout(): void {
    const e = this.cfg.electionTick;
    this.randomizedTimeout = Math.min(e + Math.floor(this.cfg.random() * e), 2 * e - 1);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedTimeout();
    this.leadTransferee = null;
    this.votes.clear();
    this.prs.clear();
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly.reset();
    this.pendingReads = [];
  }

  protected becomeFollower(term: number, lead: NodeId | null): void {
    this.stepFn = this.stepFollower;
    this.tickFn = this.tickElection;
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
    this.trace('become-follower', { lead });
  }

  private becomePreCandidate(): void {
    // No term change and no vote: a failed pre-vote leaves no trace in the cluster.
    this.stepFn = this.stepCandidate;
    this.tickFn = this.tickElection;
    this.votes.clear();
    this.lead = null;
    this.resetRandomizedTimeout();
    this.role = 'pre-candidate';
    this.trace('become-pre-candidate');
  }

  private becomeCandidate(): void {
    this.stepFn = this.stepCandidate;
    this.tickFn = this.tickElection;
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.trace('become-candidate');
  }

  private becomeLeader(): void {
    this.stepFn = this.stepLeader;
    this.tickFn = this.tickHeartbeat;
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const last = this.log.lastIndex();
    for (const id of this.conf.members()) {
      this.prs.set(id, new Tracker(last + 1, this.conf.isLearner(id), this.cfg.maxInflightMsgs));
    }
    const self = this.prs.get(this.id);
    if (self) {
      self.match = last;
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conservatively block conf changes until everything already in the log is applied.
    this.pendingConfIndex = last;
    this.appendEntries([{ type: 'normal', data: '' }]);
    this.trace('become-leader');
  }

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

  /** Starts an election (pre-vote first unless disabled or forced by a transfer). */
  protected hup(transfer: boolean): void {
    // Committed conf entries are already in `conf` after a restart, so no need to wait for them.
    if (this.role === 'leader' || !this.promotable()) return;
    this.runElection(this.cfg.preVote && !transfer ? 'pre' : 'elect', transfer);
  }

  private runElection(kind: 'pre' | 'elect', transfer: boolean): void {
    if (kind === 'pre') this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = kind === 'pre' ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (voteResult(this.conf.voters(), this.votes) === 'won') {
      if (kind === 'pre') this.runElection('elect', transfer);
      else this.becomeLeader();
      return;
    }
    for (const v of this.conf.voters()) {
      if (v === this.id) continue;
      this.send({
        type: kind === 'pre' ? 'prevote' : 'vote',
        to: v,
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: transfer ? 'transfer' : undefined,
      });
    }
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.trace('step-down', { reason: 'lost quorum' });
        this.becomeFollower(this.term, null);
        return;
      }
      if (this.leadTransferee !== null) this.abortTransfer('timeout');
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** Whether a quorum of voters was heard from this round; starts a new round. */
  private quorumActive(): boolean {
    const active = new Set<NodeId>();
    for (const [id, pr] of this.prs) {
      if (id === this.id || pr.recentActive) active.add(id);
      if (id !== this.id) pr.recentActive = false;
    }
    return hasQuorum(this.conf.voters(), active);
  }

  protected abortTransfer(why: string): void {
    this.trace('transfer-aborted', { to: this.leadTransferee, why });
    this.leadTransferee = null;
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

  /** Entry point for every message addressed to this node. */
  protected stepMessage(m: Message): void {
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === 'prevote' || m.type === 'vote') this.handleVoteRequest(m);
    else this.stepFn(m);
  }

  private inLease(): boolean {
    return this.lead !== null && this.electionElapsed < this.cfg.electionTick;
  }

  /** Returns false when the message is to be dropped. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'prevote' || m.type === 'vote') {
      const leaseApplies = this.cfg.checkQuorum || m.type === 'prevote';
      if (leaseApplies && m.context !== 'transfer' && this.inLease()) {
        this.trace('vote-ignored', { from: m.from, type: m.type, reason: 'lease' });
        return false;
      }
    }
    // A prevote carries a future term: never adopt it. A granted prevote-resp echoes that
    // future term; we move to it only when the election itself starts.
    if (m.type === 'prevote' || (m.type === 'prevote-resp' && !m.reject)) return true;
    const fromLeader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap';
    this.becomeFollower(m.term, fromLeader ? m.from : null);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if (
      (this.cfg.checkQuorum || this.cfg.preVote) &&
      (m.type === 'heartbeat' || m.type === 'app')
    ) {
      // Tell a stale leader about the newer term so it steps down instead of lingering.
      this.send({ type: 'app-resp', to: m.from });
    } else if (m.type === 'prevote') {
      this.send({ type: 'prevote-resp', to: m.from, reject: true });
    }
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === 'prevote';
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.lead === null) ||
      (pre && m.term > this.term);
    const upToDate = this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0);
    const type = pre ? 'prevote-resp' : 'vote-resp';
    if (canVote && upToDate) {
      // The response carries the requested term so the candidate counts it in that election.
      this.send({ type, to: m.from, term: m.term, reject: false });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type, to: m.from, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleFromLeader(m);
        break;
      case 'timeout-now':
        this.trace('timeout-now', { from: m.from });
        this.hup(true);
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    const respType = this.role === 'pre-candidate' ? 'prevote-resp' : 'vote-resp';
    if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
      this.becomeFollower(m.term, m.from);
      this.handleFromLeader(m);
      return;
    }
    if (m.type !== respType) return;
    this.votes.set(m.from, m.reject !== true);
    const result = voteResult(this.conf.voters(), this.votes);
    if (result === 'won') {
      if (this.role === 'pre-candidate') {
        this.runElection('elect', false);
      } else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (result === 'lost') {
      this.becomeFollower(this.term, null);
    }
  }

  private handleFromLeader(m: Message): void {
    if (m.type === 'app') this.handleAppend(m);
    else if (m.type === 'heartbeat') this.handleHeartbeat(m);
    else this.handleSnapshot(m);
  }

  private stepLeader(m: Message): void {
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
