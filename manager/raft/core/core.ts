// Raft state machine: role transitions, elections and message handling (no I/O, no clock).
import { Membership, parseConfChange, validateBoot, validateConfig } from './conf.js';
import { RaftLog } from './log.js';
import { Tracker } from './progress.js';
import { hasQuorum, voteResult } from './quorum.js';
import { ReadOnlyQueue } from './read-only.js';
import type {
  Entry,
  Message,
  NodeId,
  RaftBootState,
  RaftConfig,
  ReadState,
  Role,
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
    const out: Message = { ...m, from: this.id, term: m.term ?? this.term };
    // Absent rather than undefined fields keep messages equal to their serialized form.
    for (const k of Object.keys(out) as (keyof Message)[]) if (out[k] === undefined) delete out[k];
    this.msgs.push(out);
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
    this.bcastAppend();
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
      this.retryStalledSnapshots();
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
      }
    } else if (result === 'lost') {
      this.becomeFollower(this.term, null);
    }
  }

  /** Leader: appends new entries of the current term; returns the last index. */
  protected abstract appendEntries(ents: Pick<Entry, 'type' | 'data'>[]): number;
  protected abstract bcastHeartbeat(context?: string): void;
  protected abstract bcastAppend(): void;
  protected abstract stepLeader(m: Message): void;
  protected abstract retryStalledSnapshots(): void;
  /** Follower: handles an app, heartbeat or snap from the leader of the current term. */
  protected abstract handleFromLeader(m: Message): void;
}
