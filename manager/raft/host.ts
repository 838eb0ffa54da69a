// Runs the Raft core for a manager: its proposers and readers, its role and the events it raises.
import { EventEmitter } from 'node:events';
import { systemClock } from '../../shared/clock.js';
import { FleetError } from '../../shared/errors.js';
import type { ChangeSet, Proposal } from '../store/commands.js';
import { parseConfChange } from './core/index.js';
import type { ConfChange, Entry, Message, RefusalReason, SoftState, Status } from './core/index.js';
import { proposalToEntry } from './entries.js';
import { DEFAULT_TIMING, type RaftHostOptions, type RaftTiming } from './host-options.js';
import { PendingRequests } from './pending.js';
import { ReadyLoop } from './ready-loop.js';
import { commitTimeout, hasQuorum, noQuorum, quorumText, refusal, type Reach } from './refusals.js';

export { DEFAULT_TIMING } from './host-options.js';
export type { PeerTransport, RaftHostOptions, RaftTiming } from './host-options.js';
export { NotLeader } from './refusals.js';

/**
 * Events: 'role' (SoftState) on every change of leader or role; 'leading' once this manager
 * leads and has applied everything committed before it took over (controllers start then);
 * 'following' when it stops leading; 'removed' when a committed change removed it.
 */
export class RaftHost extends EventEmitter {
  private readonly loop: ReadyLoop;
  private readonly pending: PendingRequests;
  private readSeq = 0;
  private soft: SoftState = { leader: null, role: 'follower' };
  private leading = false;
  /** As leader: the index of its first entry; controllers wait until it is applied. */
  private leaderFrom = 0;

  constructor(private readonly opts: RaftHostOptions) {
    super();
    const timing: RaftTiming = { ...DEFAULT_TIMING, ...opts.timing };
    const clock = opts.clock ?? systemClock;
    this.pending = new PendingRequests(clock);
    this.loop = new ReadyLoop(opts, timing, clock, {
      applying: (e) => this.pending.dropIfOtherTerm(e.index, e.term, lostWrite),
      applied: (e, outcome) => this.applied(e, outcome),
      softState: (s) => this.noteSoftState(s),
      readState: (context, index) => this.pending.readState(context, index),
      logFailed: (entries, err) =>
        this.pending.failWrites(
          entries.map((e) => e.index),
          err,
        ),
      caughtUp: () => {
        this.pending.releaseReads(this.opts.store.appliedIndex);
        this.checkLeading();
      },
    });
  }

  start(): void {
    this.syncPeers();
    this.opts.store.on('members', () => this.syncPeers());
    this.loop.start();
  }

  /**
   * Why this manager cannot take writes at all (its Raft log is unwritable), or null. While the
   * log is failing it tries it again first, so space that has just come back is used at once.
   */
  writeBlocker(): FleetError | null {
    if (this.loop.storageError) this.loop.retryNow();
    return this.loop.storageError;
  }

  /** Resolves when this manager leads and has applied everything before its term. */
  untilLeading(): Promise<void> {
    if (this.leading) return Promise.resolve();
    return new Promise((resolve) => this.once('leading', () => resolve()));
  }

  /**
   * The link to a peer came up or went down. A follower whose link to the leader dropped (a
   * killed leader's socket closes at once) stops waiting out the leader's lease: the election
   * starts within one election timeout instead of up to two, and no sooner than safe.
   */
  peerLink(id: string, up: boolean): void {
    if (up || this.loop.stopped || id !== this.soft.leader || this.soft.role !== 'follower') return;
    this.loop.node.forgetLeader();
    this.loop.schedulePump();
  }

  /** The transport finished (or gave up) sending a snapshot to a peer. */
  snapshotSent(to: string, ok: boolean): void {
    this.loop.node.reportSnapshot(to, ok);
    this.loop.schedulePump();
  }

  /** Hands the member list to the transport again (it was bound after start). */
  refreshPeers(): void {
    this.syncPeers();
  }

  /** Closes the Raft log; call after stop(). */
  close(): void {
    this.opts.storage.close();
  }

  stop(): void {
    this.loop.stop();
    this.pending.failAll(new FleetError('unavailable', 'the manager is shutting down'));
  }

  /** Messages from peers, already validated by the transport. */
  receive(msgs: Message[]): void {
    if (this.loop.stopped) return;
    for (const m of msgs) this.loop.node.step(m);
    this.loop.schedulePump();
  }

  /** Commits a proposal through Raft and applies it; resolves once applied on this manager. */
  propose(p: Proposal): Promise<ChangeSet> {
    const blocked = this.writeBlocker();
    if (blocked) return Promise.reject(blocked);
    const refused = this.writeRefusal();
    if (refused) return Promise.reject(refused);
    const r = this.loop.node.propose(proposalToEntry(p));
    if (!r.ok) return Promise.reject(this.refusal(r.reason, r.leader));
    return this.untilApplied(r.index, r.term);
  }

  /** Proposes a membership change; resolves once it is applied here. */
  changeMembership(cc: ConfChange): Promise<void> {
    const r = this.loop.node.proposeConfChange(cc);
    if (!r.ok) return Promise.reject(this.refusal(r.reason, r.leader));
    return this.untilApplied(r.index, r.term).then(() => undefined);
  }

  /**
   * Resolves once this manager's store reflects every write committed before the call (Raft's
   * ReadIndex): a read served after it is linearizable. Only the leader can answer.
   */
  readBarrier(timeoutMs = 3_000): Promise<void> {
    const context = `r${++this.readSeq}`;
    const r = this.loop.node.readIndex(context);
    if (!r.ok) return Promise.reject(this.refusal(r.reason, r.leader));
    const read = this.pending.read(context, timeoutMs, () =>
      noQuorum(this.reachability(), 'the read could not be confirmed by a quorum'),
    );
    this.loop.schedulePump();
    return read;
  }

  transferLeadership(to: string): void {
    const r = this.loop.node.transferLeadership(to);
    if (!r.ok)
      throw new FleetError('invalid_argument', `cannot hand leadership to ${to}: ${r.reason}`);
    this.loop.schedulePump();
  }

  status(): Status {
    return this.loop.node.status();
  }

  /** Leads and has applied everything committed before its term: controllers may run. */
  get isLeading(): boolean {
    return this.leading;
  }

  get isLeader(): boolean {
    return this.soft.role === 'leader';
  }

  get leaderId(): string | null {
    return this.soft.leader;
  }

  /** Managers this one can reach now (itself included), and how many vote. */
  reachability(): Reach {
    const voters = this.loop.node.status().conf.voters;
    const reachable = voters.filter(
      (v) => v === this.opts.id || this.opts.transport.connected(v),
    ).length;
    return { reachable, voters: voters.length };
  }

  /** "no quorum: 1 of 3 managers reachable", for errors and stale-read warnings. */
  quorumText(): string {
    return quorumText(this.reachability());
  }

  /** Resolves when the entry proposed at index/term is applied here, rejects when it cannot be. */
  private untilApplied(index: number, term: number): Promise<ChangeSet> {
    const ms = this.opts.commitTimeoutMs ?? 5_000;
    const applied = this.pending.write(index, term, ms, () => commitTimeout(this.reachability()));
    this.loop.schedulePump();
    return applied;
  }

  private applied(e: Entry, outcome: ChangeSet | Error): void {
    this.pending.applied(e.index, outcome);
    if (e.type === 'conf') {
      const cc = parseConfChange(e);
      if (cc?.op === 'remove' && cc.id === this.opts.id) this.emit('removed');
    }
  }

  private noteSoftState(s: SoftState): void {
    const was = this.soft;
    this.soft = s;
    if (was.leader !== s.leader || was.role !== s.role) {
      this.opts.logger.info('raft role changed', { role: s.role, leader: s.leader });
      this.emit('role', s);
    }
    if (s.role === 'leader' && was.role !== 'leader') {
      this.leaderFrom = this.loop.node.status().lastIndex;
    }
    if (s.role !== 'leader' && this.leading) {
      this.leading = false;
      this.emit('following');
    }
    if (s.role !== 'leader') this.failPendingOnStepDown(s.leader);
  }

  /** A deposed leader's pending writes may or may not commit under the next one: say so. */
  private failPendingOnStepDown(leader: string | null): void {
    if (this.pending.empty) return;
    const text = 'leadership changed while the request waited; retry it';
    this.pending.failAll(this.refusal('not-leader', leader, text));
  }

  private checkLeading(): void {
    if (this.leading || this.soft.role !== 'leader') return;
    if (this.opts.store.appliedIndex < this.leaderFrom) return;
    this.leading = true;
    this.emit('leading');
  }

  private syncPeers(): void {
    const peers = new Map<string, string>();
    const members = this.opts.store.members();
    for (const m of members.length > 0 ? members : (this.opts.initialPeers ?? []))
      if (m.id !== this.opts.id) peers.set(m.id, m.address);
    this.opts.transport.setPeers(peers);
  }

  /** Fast refusal of a write that cannot commit: a leader that cannot reach a quorum. */
  private writeRefusal(): FleetError | null {
    if (this.soft.role !== 'leader') return null; // the core refuses with the leader's name
    const reach = this.reachability();
    if (hasQuorum(reach)) return null;
    return noQuorum(reach, 'the write was not applied');
  }

  private refusal(reason: RefusalReason, leader: string | null, text?: string): FleetError {
    return refusal(reason, leader, () => this.reachability(), text);
  }
}

const lostWrite = (): FleetError =>
  new FleetError(
    'unavailable',
    'leadership changed before the write committed; it was not applied',
  );
