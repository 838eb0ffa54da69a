// Runs the Raft core for a manager: ticks it, persists, sends and applies each Ready, answers proposers.
import { EventEmitter } from 'node:events';
import { FleetError, errorMessage } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { ChangeSet, Proposal } from '../store/commands.js';
import { isWriteConflict, storageFailure } from '../store/conflict.js';
import type { Store } from '../store/store.js';
import { RaftNode, parseConfChange } from './core/index.js';
import type {
  ConfChange,
  Entry,
  Message,
  RaftConfig,
  Ready,
  RefusalReason,
  Snapshot,
  SoftState,
  Status,
} from './core/index.js';
import { applyEntry } from './apply.js';
import { proposalToEntry } from './entries.js';
import type { RaftStorage } from './storage.js';

/** What the host needs of the network: RaftTransport, or an in-memory one in tests. */
export interface PeerTransport {
  send(msgs: Message[]): void;
  setPeers(peers: ReadonlyMap<string, string>): void;
  connected(id: string): boolean;
}

export interface RaftTiming {
  /** One Raft tick. */
  tickMs: number;
  /** Ticks before a follower that hears no leader campaigns (randomized up to twice this). */
  electionTicks: number;
  heartbeatTicks: number;
}

export const DEFAULT_TIMING: RaftTiming = { tickMs: 100, electionTicks: 10, heartbeatTicks: 1 };

export interface RaftHostOptions {
  id: string;
  store: Store;
  storage: RaftStorage;
  transport: PeerTransport;
  logger: Logger;
  timing?: Partial<RaftTiming>;
  /** Snapshot (and compact the log) after this many applied entries. */
  snapshotEvery?: number;
  /** Entries kept behind a snapshot, so a briefly lagging manager catches up without one. */
  retainEntries?: number;
  /** How long a write may wait for its commit before the proposer is told. */
  commitTimeoutMs?: number;
  random?: () => number;
  /** Whom to talk to before the store knows any member (a manager that has just joined). */
  initialPeers?: { id: string; address: string }[];
}

interface Waiter {
  term: number;
  resolve(c: ChangeSet): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface ReadWaiter {
  index: number | null;
  resolve(): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

const MAX_MSG_BYTES = 512 * 1024;
const MAX_UNCOMMITTED_BYTES = 32 * 1024 * 1024;
/** Entry bytes applied since the last snapshot that trigger the next one. */
const COMPACT_BYTES = 4 * 1024 * 1024;

/**
 * Events: 'role' (SoftState) on every change of leader or role; 'leading' once this manager
 * leads and has applied everything committed before it took over (controllers start then);
 * 'following' when it stops leading; 'removed' when a committed change removed it.
 */
export class RaftHost extends EventEmitter {
  private node: RaftNode;
  private readonly timing: RaftTiming;
  private readonly waiters = new Map<number, Waiter>();
  private readonly reads = new Map<string, ReadWaiter>();
  private readSeq = 0;
  private soft: SoftState = { leader: null, role: 'follower' };
  private leading = false;
  /** As leader: the index of its first entry; controllers wait until it is applied. */
  private leaderFrom = 0;
  private bytesSinceSnapshot = 0;
  private snapshotIndex = 0;
  private ticker: NodeJS.Timeout | undefined;
  private pumpScheduled = false;
  private pumping = false;
  private stalledUntil = 0;
  /** A Ready persisted and sent whose committed entries the store has not all taken yet. */
  private unapplied: Ready | null = null;
  /** Set while the Raft log cannot be written (a full disk): writes are refused with it. */
  private storageError: FleetError | null = null;
  private stopped = false;

  constructor(private readonly opts: RaftHostOptions) {
    super();
    this.timing = { ...DEFAULT_TIMING, ...opts.timing };
    this.node = this.boot();
  }

  start(): void {
    this.syncPeers();
    this.opts.store.on('members', () => this.syncPeers());
    this.ticker = setInterval(() => {
      this.node.tick();
      this.pump();
    }, this.timing.tickMs);
    this.campaignIfAlone();
    this.pump();
  }

  /** A lone manager need not wait out an election timeout to lead again. */
  private campaignIfAlone(): void {
    const { voters } = this.node.status().conf;
    if (voters.length === 1 && voters[0] === this.opts.id) this.node.campaign();
  }

  /**
   * Why this manager cannot take writes at all (its Raft log is unwritable), or null. While the
   * log is failing it tries it again first, so space that has just come back is used at once.
   */
  writeBlocker(): FleetError | null {
    if (this.storageError) {
      this.stalledUntil = 0;
      this.pump();
    }
    return this.storageError;
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
    if (up || this.stopped || id !== this.soft.leader || this.soft.role !== 'follower') return;
    this.node.forgetLeader();
    this.schedulePump();
  }

  /** The transport finished (or gave up) sending a snapshot to a peer. */
  snapshotSent(to: string, ok: boolean): void {
    this.node.reportSnapshot(to, ok);
    this.schedulePump();
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
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    const gone = new FleetError('unavailable', 'the manager is shutting down');
    for (const w of this.waiters.values()) this.settle(w, gone);
    this.waiters.clear();
    for (const r of this.reads.values()) this.settleRead(r, gone);
    this.reads.clear();
  }

  /** Messages from peers, already validated by the transport. */
  receive(msgs: Message[]): void {
    if (this.stopped) return;
    for (const m of msgs) this.node.step(m);
    this.schedulePump();
  }

  /** Commits a proposal through Raft and applies it; resolves once applied on this manager. */
  propose(p: Proposal): Promise<ChangeSet> {
    const blocked = this.writeBlocker();
    if (blocked) return Promise.reject(blocked);
    const refused = this.writeRefusal();
    if (refused) return Promise.reject(refused);
    const r = this.node.propose(proposalToEntry(p));
    if (!r.ok) return Promise.reject(this.refusal(r.reason, r.leader));
    return this.untilApplied(r.index, r.term);
  }

  /** Proposes a membership change; resolves once it is applied here. */
  changeMembership(cc: ConfChange): Promise<void> {
    const r = this.node.proposeConfChange(cc);
    if (!r.ok) return Promise.reject(this.refusal(r.reason, r.leader));
    return this.untilApplied(r.index, r.term).then(() => undefined);
  }

  /** Resolves when the entry proposed at index/term is applied here, rejects when it cannot be. */
  private untilApplied(index: number, term: number): Promise<ChangeSet> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(index);
        reject(this.commitTimeout());
      }, this.opts.commitTimeoutMs ?? 5_000);
      this.waiters.set(index, { term, resolve, reject, timer });
      this.schedulePump();
    });
  }

  /**
   * Resolves once this manager's store reflects every write committed before the call (Raft's
   * ReadIndex): a read served after it is linearizable. Only the leader can answer.
   */
  readBarrier(timeoutMs = 3_000): Promise<void> {
    const context = `r${++this.readSeq}`;
    const r = this.node.readIndex(context);
    if (!r.ok) return Promise.reject(this.refusal(r.reason, r.leader));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(context);
        reject(this.noQuorum('the read could not be confirmed by a quorum'));
      }, timeoutMs);
      this.reads.set(context, { index: null, resolve, reject, timer });
      this.schedulePump();
    });
  }

  transferLeadership(to: string): void {
    const r = this.node.transferLeadership(to);
    if (!r.ok)
      throw new FleetError('invalid_argument', `cannot hand leadership to ${to}: ${r.reason}`);
    this.schedulePump();
  }

  status(): Status {
    return this.node.status();
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
  reachability(): { reachable: number; voters: number } {
    const voters = this.node.status().conf.voters;
    const reachable = voters.filter(
      (v) => v === this.opts.id || this.opts.transport.connected(v),
    ).length;
    return { reachable, voters: voters.length };
  }

  /** "no quorum: 1 of 3 managers reachable", for errors and stale-read warnings. */
  quorumText(): string {
    const { reachable, voters } = this.reachability();
    return `no quorum: ${reachable} of ${voters} managers reachable`;
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

  private schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Processes every pending Ready: persist, send, apply, advance. */
  private pump(): void {
    if (this.pumping || this.stopped || Date.now() < this.stalledUntil) return;
    this.pumping = true;
    try {
      // A Ready whose entries could not all be applied is finished before any new one.
      if (this.unapplied && !this.finish(this.unapplied)) return;
      while (this.node.hasReady()) {
        const rd = this.node.ready();
        if (!this.persist(rd)) return;
        if (rd.snapshot) this.installSnapshot(rd.snapshot);
        this.opts.transport.send(rd.messages);
        if (!this.finish(rd)) return;
      }
      this.releaseReads();
      this.checkLeading();
      this.maybeCompact();
    } finally {
      this.pumping = false;
    }
  }

  /** Applies the Ready's committed entries, then advances; false while the store refuses. */
  private finish(rd: Ready): boolean {
    if (!this.applyAll(rd.committed)) {
      this.unapplied = rd;
      return false;
    }
    this.unapplied = null;
    this.node.advance();
    if (rd.softState) this.noteSoftState(rd.softState);
    for (const rs of rd.readStates) this.noteReadState(rs.context, rs.index);
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
      this.storageError = null;
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
      this.storageError = err;
      for (const [index, w] of this.waiters) {
        if (rd.entries.some((x) => x.index === index)) {
          this.waiters.delete(index);
          this.settle(w, err);
        }
      }
      this.node = this.boot();
      this.noteSoftState({ leader: null, role: 'follower' });
      this.campaignIfAlone();
      this.stalledUntil = Date.now() + 1_000;
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
        this.stalledUntil = Date.now() + 1_000;
        return false;
      }
      this.bytesSinceSnapshot += e.data.length;
    }
    return true;
  }

  private applyOne(e: Entry): void {
    const w = this.waiters.get(e.index);
    if (w && w.term !== e.term) {
      this.waiters.delete(e.index);
      const lost = 'leadership changed before the write committed; it was not applied';
      this.settle(w, new FleetError('unavailable', lost));
    }
    let outcome: ChangeSet | Error;
    try {
      outcome = applyEntry(this.opts.store, e);
    } catch (err) {
      // Any other failure leaves the entry to be applied again, its proposer still waiting.
      if (!isWriteConflict(err)) throw err;
      outcome = err;
    }
    const mine = this.waiters.get(e.index);
    if (mine) {
      this.waiters.delete(e.index);
      if (outcome instanceof Error) this.settle(mine, outcome);
      else this.settle(mine, null, outcome);
    }
    if (e.type === 'conf') {
      const cc = parseConfChange(e);
      if (cc?.op === 'remove' && cc.id === this.opts.id) this.emit('removed');
    }
  }

  private settle(w: Waiter, err: Error | null, changes?: ChangeSet): void {
    clearTimeout(w.timer);
    if (err) w.reject(err);
    else if (changes) w.resolve(changes);
  }

  private settleRead(r: ReadWaiter, err: Error | null): void {
    clearTimeout(r.timer);
    if (err) r.reject(err);
    else r.resolve();
  }

  private noteSoftState(s: SoftState): void {
    const was = this.soft;
    this.soft = s;
    if (was.leader !== s.leader || was.role !== s.role) {
      this.opts.logger.info('raft role changed', { role: s.role, leader: s.leader });
      this.emit('role', s);
    }
    if (s.role === 'leader' && was.role !== 'leader') {
      this.leaderFrom = this.node.status().lastIndex;
    }
    if (s.role !== 'leader' && this.leading) {
      this.leading = false;
      this.emit('following');
    }
    if (s.role !== 'leader') this.failPendingOnStepDown(s.leader);
  }

  /** A deposed leader's pending writes may or may not commit under the next one: say so. */
  private failPendingOnStepDown(leader: string | null): void {
    if (this.waiters.size === 0 && this.reads.size === 0) return;
    const err = this.refusal(
      'not-leader',
      leader,
      'leadership changed while the request waited; retry it',
    );
    for (const w of this.waiters.values()) this.settle(w, err);
    this.waiters.clear();
    for (const r of this.reads.values()) this.settleRead(r, err);
    this.reads.clear();
  }

  private checkLeading(): void {
    if (this.leading || this.soft.role !== 'leader') return;
    if (this.opts.store.appliedIndex < this.leaderFrom) return;
    this.leading = true;
    this.emit('leading');
  }

  private noteReadState(context: string, index: number): void {
    const r = this.reads.get(context);
    if (r) r.index = index;
  }

  private releaseReads(): void {
    const applied = this.opts.store.appliedIndex;
    for (const [ctx, r] of this.reads) {
      if (r.index === null || r.index > applied) continue;
      this.reads.delete(ctx);
      this.settleRead(r, null);
    }
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
    const snap = this.node.compact(this.opts.store.dump(), retain);
    this.bytesSinceSnapshot = 0;
    if (!snap) return;
    const first = this.node.status().firstIndex;
    try {
      this.opts.storage.compact(snap, first);
      this.snapshotIndex = snap.meta.index;
    } catch (e) {
      this.opts.logger.warn('could not save a snapshot; the log keeps growing', {
        error: errorMessage(e),
      });
    }
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
    const { reachable, voters } = this.reachability();
    if (reachable * 2 > voters) return null;
    return this.noQuorum('the write was not applied');
  }

  private refusal(reason: RefusalReason, leader: string | null, text?: string): FleetError {
    if (reason === 'not-leader' || reason === 'transferring-leadership') {
      if (leader === null) {
        const { reachable, voters } = this.reachability();
        if (reachable * 2 <= voters) return this.noQuorum('the request was not served');
        return new NotLeader(text ?? 'no leader yet: an election is running; retry shortly', null);
      }
      return new NotLeader(text ?? `this manager does not lead; the leader is ${leader}`, leader);
    }
    if (reason === 'too-much-uncommitted')
      return new FleetError('unavailable', 'too many writes are waiting to commit; retry shortly');
    if (reason === 'conf-change-pending')
      return new FleetError(
        'conflict',
        'another membership change is still being applied; retry shortly',
      );
    return new FleetError('unavailable', `refused: ${reason}`);
  }

  private noQuorum(what: string): FleetError {
    return new FleetError('no_quorum', `${this.quorumText()}: ${what}`);
  }

  private commitTimeout(): FleetError {
    const { reachable, voters } = this.reachability();
    if (reachable * 2 <= voters) return this.noQuorum('the write may not have been applied');
    return new FleetError(
      'unavailable',
      'the write did not commit in time; it may still be applied: retry with the same request',
    );
  }
}

/** A refusal from a follower, naming the leader (by id) when it knows one. */
export class NotLeader extends FleetError {
  constructor(
    message: string,
    readonly leader: string | null,
  ) {
    super('not_leader', message);
  }
}
