// The public RawNode-style API: propose/step/tick in, Ready out, advance() to acknowledge.
import { Membership, parseConfChange, RaftConfigError } from './conf.js';
import { Replicator } from './replication.js';
import { byteLength, invariant } from './log.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  ProposeResult,
  Progress,
  RaftBootState,
  RaftConfig,
  Ready,
  ReadIndexResult,
  Snapshot,
  SoftState,
  Status,
  TransferResult,
} from './types.js';

export { RaftConfigError };

/** What the caller has been handed since the last advance(). */
interface Handed {
  committedTo: number;
  snapshotIndex: number;
  confEntries: Entry[];
}

type Refusal = Extract<ProposeResult, { ok: false }>;

export class RaftNode extends Replicator {
  private prevSoft: SoftState;
  private prevHard: HardState;
  private handed: Handed | undefined;

  constructor(config: RaftConfig, boot: RaftBootState) {
    super(config, boot);
    this.prevSoft = { leader: null, role: 'follower' };
    this.prevHard = { ...boot.hardState };
  }

  /** Boot state of the first member of a brand-new cluster. */
  static bootstrap(id: NodeId, context?: string): RaftBootState {
    const cc: ConfChange = { op: 'add-voter', id };
    if (context !== undefined) cc.context = context;
    return {
      hardState: { term: 1, vote: null, commit: 1 },
      entries: [{ index: 1, term: 1, type: 'conf', data: JSON.stringify(cc) }],
      applied: 0,
    };
  }

  tick(): void {
    this.tickFn();
  }

  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    if (!Number.isInteger(m.term) || m.term < 0) return;
    this.stepMessage(m);
  }

  campaign(): void {
    this.hup(false);
  }

  /**
   * A follower that has lost its link to the leader (the caller saw the connection drop) stops
   * counting on it: it grants pre-votes from then on, and campaigns within one more randomized
   * stretch of at most an election timeout. Its term does not change, so the leader, if it is in
   * fact alive, is simply followed again at its next heartbeat. No-op for any other role.
   */
  forgetLeader(): void {
    if (this.role !== 'follower' || this.lead === null) return;
    this.trace('forget-leader', { leader: this.lead });
    this.lead = null;
    this.electionElapsed = Math.max(this.electionElapsed, this.cfg.electionTick);
  }

  private refuse(reason: Refusal['reason']): Refusal {
    return { ok: false, reason, leader: this.lead };
  }

  private proposalRefusal(): Refusal | undefined {
    if (this.role !== 'leader') return this.refuse('not-leader');
    if (this.leadTransferee !== null) return this.refuse('transferring-leadership');
    return undefined;
  }

  private tooMuchUncommitted(size: number): boolean {
    const max = this.cfg.maxUncommittedSize;
    // A single entry is always let through when nothing is uncommitted, so none can wedge.
    return max > 0 && this.uncommittedSize > 0 && this.uncommittedSize + size > max;
  }

  private proposeEntry(type: Entry['type'], data: string): ProposeResult {
    const size = byteLength(data);
    if (this.tooMuchUncommitted(size)) return this.refuse('too-much-uncommitted');
    this.uncommittedSize += size;
    const index = this.appendEntries([{ type, data }]);
    this.bcastAppend();
    return { ok: true, index, term: this.term };
  }

  propose(data: string): ProposeResult {
    return this.proposalRefusal() ?? this.proposeEntry('normal', data);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    const refusal = this.proposalRefusal();
    if (refusal) return refusal;
    if (this.pendingConfIndex > this.log.applied) return this.refuse('conf-change-pending');
    const validOp = cc.op === 'add-voter' || cc.op === 'add-learner' || cc.op === 'remove';
    if (!validOp || typeof cc.id !== 'string' || cc.id === '') return this.refuse('not-a-member');
    if (cc.op === 'remove') {
      if (!this.conf.isMember(cc.id)) return this.refuse('not-a-member');
      // The cluster could never make progress again without a voter.
      if (this.conf.isVoter(cc.id) && this.conf.voters().length === 1) {
        return this.refuse('not-a-member');
      }
    }
    const out: ConfChange = { op: cc.op, id: cc.id };
    if (cc.context !== undefined) out.context = cc.context;
    const res = this.proposeEntry('conf', JSON.stringify(out));
    if (res.ok) this.pendingConfIndex = res.index;
    return res;
  }

  readIndex(context: string): ReadIndexResult {
    if (this.role !== 'leader') return this.refuse('not-leader');
    // The commit index is only known to be current once an entry of this term is committed.
    if (!this.committedInCurrentTerm()) this.pendingReads.push(context);
    else this.handleReadIndex(context);
    return { ok: true };
  }

  transferLeadership(to: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader' };
    if (to === this.id) return { ok: false, reason: 'already-leader' };
    const pr = this.prs.get(to);
    if (!pr || !this.conf.isVoter(to)) return { ok: false, reason: 'not-a-voter' };
    if (this.leadTransferee === to) {
      // Repeating the call re-sends timeout-now, in case the first one was lost.
      if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
      return { ok: true };
    }
    if (this.leadTransferee !== null) this.abortTransfer('superseded');
    this.leadTransferee = to;
    this.electionElapsed = 0; // the transfer is aborted after one election timeout
    this.trace('transfer-start', { to });
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
    return { ok: true };
  }

  reportUnreachable(id: NodeId): void {
    const pr = this.role === 'leader' ? this.prs.get(id) : undefined;
    if (pr?.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    const pr = this.role === 'leader' ? this.prs.get(id) : undefined;
    if (pr?.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing again.
    pr.probeSent = true;
  }

  /**
   * Snapshots the state machine at the applied index and drops entries before the last
   * `retainEntries` at or below it. Returns the snapshot (what the caller should store), or
   * undefined when there is nothing new to snapshot.
   */
  compact(data: string, retainEntries: number): Snapshot | undefined {
    const applied = this.log.applied;
    const snapIndex = this.log.snapshot?.meta.index ?? 0;
    if (applied <= snapIndex || this.log.pendingSnapshot) return undefined;
    const term = this.log.term(applied);
    invariant(term !== undefined, `no term for applied index ${applied}`);
    const snapshot: Snapshot = { meta: { index: applied, term, conf: this.confAt(applied) }, data };
    const keep = Math.max(0, Math.floor(retainEntries));
    this.log.compact(snapshot, applied - keep + 1);
    return snapshot;
  }

  /** Membership as of `index`: the snapshot's plus the conf entries up to it. */
  private confAt(index: number): ConfState {
    const snap = this.log.snapshot;
    const m = new Membership(snap?.meta.conf);
    for (let i = (snap?.meta.index ?? 0) + 1; i <= index; i++) {
      const e = this.log.entry(i);
      const cc = e ? parseConfChange(e) : undefined;
      if (cc) m.apply(cc);
    }
    return m.state();
  }

  private softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  hasReady(): boolean {
    const s = this.softState();
    const h = this.hardState();
    return (
      s.leader !== this.prevSoft.leader ||
      s.role !== this.prevSoft.role ||
      h.term !== this.prevHard.term ||
      h.vote !== this.prevHard.vote ||
      h.commit !== this.prevHard.commit ||
      this.log.pendingSnapshot !== undefined ||
      this.log.hasUnstable() ||
      this.log.hasCommitted() ||
      this.msgs.length > 0 ||
      this.readStates.length > 0
    );
  }

  ready(): Ready {
    const rd: Ready = {
      entries: this.log.takeUnstable(),
      messages: this.msgs,
      committed: this.log.takeCommitted(),
      readStates: this.readStates,
    };
    this.msgs = [];
    this.readStates = [];
    const s = this.softState();
    if (s.leader !== this.prevSoft.leader || s.role !== this.prevSoft.role) {
      rd.softState = s;
      this.prevSoft = s;
    }
    const h = this.hardState();
    const p = this.prevHard;
    if (h.term !== p.term || h.vote !== p.vote || h.commit !== p.commit) {
      rd.hardState = h;
      this.prevHard = h;
    }
    const handed = this.handed ?? { committedTo: 0, snapshotIndex: 0, confEntries: [] };
    if (this.log.pendingSnapshot) {
      rd.snapshot = this.log.pendingSnapshot;
      handed.snapshotIndex = rd.snapshot.meta.index;
      this.log.pendingSnapshot = undefined;
    }
    const lastCommitted = rd.committed[rd.committed.length - 1];
    if (lastCommitted) handed.committedTo = lastCommitted.index;
    for (const e of rd.committed) if (e.type === 'conf') handed.confEntries.push(e);
    this.handed = handed;
    return rd;
  }

  /** The caller persisted, sent and applied the last Ready(s); conf entries take effect now. */
  advance(): void {
    const handed = this.handed;
    invariant(handed !== undefined, 'advance() without ready()');
    this.handed = undefined;
    this.log.applied = Math.max(this.log.applied, handed.committedTo, handed.snapshotIndex);
    for (const e of handed.confEntries) {
      const cc = parseConfChange(e);
      if (cc) this.applyConfChange(cc);
      else this.trace('conf-entry-invalid', { index: e.index });
    }
  }

  protected onRestore(): void {
    // Conf entries handed out before the snapshot are superseded by its conf.
    if (this.handed) this.handed.confEntries = [];
  }

  status(): Status {
    const st: Status = {
      id: this.id,
      term: this.term,
      vote: this.vote,
      role: this.role,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      conf: this.conf.state(),
      leadTransferee: this.leadTransferee,
    };
    if (this.role === 'leader') {
      const progress: Record<NodeId, Progress> = {};
      for (const id of [...this.prs.keys()].sort()) {
        const pr = this.prs.get(id);
        if (pr) progress[id] = pr.view();
      }
      st.progress = progress;
    }
    return st;
  }
}
