// Deterministic simulation of a Raft cluster under network faults, crashes and membership changes, with a KV workload.
import { RaftNode } from '../../manager/raft/core/index.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  Message,
  NodeId,
  RaftBootState,
  ReadState,
  Role,
  Snapshot,
} from '../../manager/raft/core/types.js';
import {
  checkLinearizable,
  SafetyChecker,
  type HistoryOp,
  type LinearizabilityResult,
} from './checker.js';
import { KvStateMachine, NodeHost, type ConfigTemplate, type HostEvents } from './harness.js';
import { SimNetwork, type NetworkConfig } from './network.js';
import { Prng } from './prng.js';

/** How hostile one run is; chosen from the seed. Rates are per tick. */
export interface FaultMix {
  name: string;
  net: NetworkConfig;
  partition: number;
  heal: number;
  crash: number;
  restart: number;
  confChange: number;
  transfer: number;
  compact: number;
}

const MIXES: FaultMix[] = [
  {
    name: 'calm',
    net: { loss: 0, duplicate: 0, minDelay: 0, maxDelay: 1 },
    partition: 0,
    heal: 1,
    crash: 0,
    restart: 1,
    confChange: 0.01,
    transfer: 0.01,
    compact: 0.02,
  },
  {
    name: 'lossy',
    net: { loss: 0.1, duplicate: 0.05, minDelay: 0, maxDelay: 4 },
    partition: 0.005,
    heal: 0.05,
    crash: 0.003,
    restart: 0.05,
    confChange: 0.01,
    transfer: 0.005,
    compact: 0.03,
  },
  {
    name: 'partitions',
    net: { loss: 0.02, duplicate: 0.02, minDelay: 0, maxDelay: 3 },
    partition: 0.03,
    heal: 0.04,
    crash: 0.002,
    restart: 0.05,
    confChange: 0.008,
    transfer: 0.005,
    compact: 0.03,
  },
  {
    name: 'crashes',
    net: { loss: 0.02, duplicate: 0.01, minDelay: 0, maxDelay: 2 },
    partition: 0.003,
    heal: 0.05,
    crash: 0.01,
    restart: 0.08,
    confChange: 0.008,
    transfer: 0.005,
    compact: 0.04,
  },
  {
    // Delays beyond the election timeout: stale messages of old terms arrive very late.
    name: 'slow',
    net: { loss: 0.02, duplicate: 0.1, minDelay: 0, maxDelay: 12 },
    partition: 0.005,
    heal: 0.05,
    crash: 0.005,
    restart: 0.05,
    confChange: 0.01,
    transfer: 0.01,
    compact: 0.03,
  },
  {
    name: 'churn',
    net: { loss: 0.01, duplicate: 0.01, minDelay: 0, maxDelay: 2 },
    partition: 0.005,
    heal: 0.1,
    crash: 0.005,
    restart: 0.1,
    confChange: 0.06,
    transfer: 0.03,
    compact: 0.1,
  },
  {
    name: 'chaos',
    net: { loss: 0.05, duplicate: 0.05, minDelay: 0, maxDelay: 6 },
    partition: 0.02,
    heal: 0.05,
    crash: 0.01,
    restart: 0.05,
    confChange: 0.02,
    transfer: 0.02,
    compact: 0.05,
  },
];

export interface SimOptions {
  seed: number;
  /** Initial voters; chosen from the seed when absent. */
  members?: number;
  /** Length of the phase with faults, in ticks. */
  ticks?: number;
  /** Upper bound on the fault-free phase that must reach agreement, in ticks. */
  settleTicks?: number;
  /** Keep a full event trace (slower); needed for determinism checks and debugging. */
  trace?: boolean;
  /** Receives trace lines as they happen. */
  log?: (line: string) => void;
  /** A deliberate bug in the harness, to show the checkers catch it (never set in real runs). */
  mutation?: Mutation;
}

/** stale-reads: serve reads from any node at once, skipping ReadIndex; leader-reads: serve reads
 * from any node that believes it leads, without confirming it with a quorum; early-ack:
 * acknowledge a write when proposed, before it commits; lose-log-tail: lose the newest persisted
 * entries on restart. */
export type Mutation = 'stale-reads' | 'leader-reads' | 'early-ack' | 'lose-log-tail';

export interface SimStats {
  ticks: number;
  messages: number;
  leaders: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  compactions: number;
  snapshotsInstalled: number;
  writesOk: number;
  writesUnknown: number;
  writesFailed: number;
  readsOk: number;
  readsFailed: number;
  maxCommitted: number;
}

export interface SimReport {
  seed: number;
  description: string;
  violations: string[];
  linearizability: LinearizabilityResult;
  history: HistoryOp[];
  trace: string[];
  stats: SimStats;
}

interface PendingWrite {
  kind: 'put';
  key: string;
  value: string;
  node: NodeId;
  call: number;
  deadline: number;
  index: number;
  term: number;
}

interface PendingRead {
  kind: 'get';
  key: string;
  node: NodeId;
  call: number;
  deadline: number;
  ctx: string;
  readIndex: number | null;
}

interface Client {
  id: number;
  leaderHint: NodeId | null;
  op: PendingWrite | PendingRead | null;
  nextAt: number;
  seq: number;
}

interface ConfOp {
  cc: ConfChange;
  index: number;
  deadline: number;
}

const KEYS = ['x', 'y', 'z'];
const CLIENTS = 3;
const OP_TIMEOUT = 40;

class Simulation implements HostEvents {
  readonly rng: Prng;
  readonly net: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly hosts = new Map<NodeId, NodeHost>();
  readonly mix: FaultMix;
  readonly template: ConfigTemplate;
  readonly members: number;
  /** Removed from the cluster and shut down (storage kept, so it may be re-added). */
  readonly decommissioned = new Set<NodeId>();
  /** The role each node last reported, with its term. */
  readonly roles = new Map<NodeId, { role: Role; term: number }>();
  readonly history: HistoryOp[] = [];
  readonly trace: string[] = [];
  readonly clients: Client[] = [];
  readonly stats: SimStats = {
    ticks: 0,
    messages: 0,
    leaders: 0,
    crashes: 0,
    partitions: 0,
    confChanges: 0,
    transfers: 0,
    compactions: 0,
    snapshotsInstalled: 0,
    writesOk: 0,
    writesUnknown: 0,
    writesFailed: 0,
    readsOk: 0,
    readsFailed: 0,
    maxCommitted: 0,
  };
  now = 0;
  /** Logical clock ordering every invocation and response. */
  private clock = 0;
  private nextNodeNumber: number;
  private confOp: ConfOp | null = null;
  /** Work that must not run while a node's Ready is being handled (reports back into the core). */
  private deferred: Array<() => void> = [];
  private reportedSnaps = new WeakSet<Message>();
  private readonly tracing: boolean;
  private readonly bootstrapMode: boolean;
  /** Bootstrap mode: whether every initial member has been added once. */
  private formed = false;

  constructor(readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.members = opts.members ?? (this.rng.chance(0.5) ? 3 : 5);
    this.mix = this.rng.pick(MIXES);
    this.net = new SimNetwork({ ...this.mix.net }, this.rng.fork());
    this.tracing = opts.trace === true || opts.log !== undefined;
    this.template = {
      electionTick: 10,
      heartbeatTick: this.rng.pick([1, 2, 3]),
      preVote: this.rng.chance(0.7),
      checkQuorum: this.rng.chance(0.7),
      maxSizePerMsg: this.rng.pick([1, 16, 1 << 20]),
      maxInflightMsgs: this.rng.pick([1, 4, 256]),
      maxUncommittedSize: this.rng.pick([0, 0, 100]),
    };
    this.bootstrapMode = this.rng.chance(0.25);
    this.formed = !this.bootstrapMode;
    this.nextNodeNumber = this.members + 1;
    for (let c = 0; c < CLIENTS; c++) {
      this.clients.push({
        id: c + 1,
        leaderHint: null,
        op: null,
        nextAt: this.rng.range(5, 20),
        seq: 0,
      });
    }
    const ids = Array.from({ length: this.members }, (_, i) => `n${i + 1}`);
    if (this.bootstrapMode) {
      // n1 founds the cluster alone; the others start empty and are added one by one.
      for (const id of ids) {
        const host = this.newHost(id);
        host.start(id === 'n1' ? RaftNode.bootstrap(id) : emptyBoot());
      }
    } else {
      // All members start from the same snapshot holding the initial membership.
      const snap: Snapshot = {
        meta: { index: 1, term: 1, conf: { voters: [...ids], learners: [] } },
        data: new KvStateMachine().serialize(),
      };
      for (const id of ids) {
        this.newHost(id).start({
          hardState: { term: 1, vote: null, commit: 1 },
          snapshot: snap,
          entries: [],
          applied: 1,
        });
      }
    }
  }

  describe(): string {
    const t = this.template;
    return (
      `seed=${this.opts.seed} members=${this.members} mix=${this.mix.name} ` +
      `start=${this.bootstrapMode ? 'bootstrap' : 'snapshot'} heartbeat=${t.heartbeatTick} ` +
      `prevote=${t.preVote} checkquorum=${t.checkQuorum} maxsize=${t.maxSizePerMsg} ` +
      `inflight=${t.maxInflightMsgs} uncommitted=${t.maxUncommittedSize}`
    );
  }

  private newHost(id: NodeId): NodeHost {
    const host = new NodeHost(id, this.template, forkRandom(this.rng), this);
    this.hosts.set(id, host);
    return host;
  }

  private log(line: string): void {
    if (!this.tracing) return;
    const full = `${this.now} ${line}`;
    if (this.opts.trace === true) this.trace.push(full);
    this.opts.log?.(full);
  }

  // --- HostEvents -----------------------------------------------------------------------------

  send(msg: Message): void {
    this.stats.messages++;
    if (this.tracing) this.log(`send ${formatMessage(msg)}`);
    const dropped = this.net.send(msg, this.now);
    if (dropped === 'partition') {
      // The transport would notice a refused connection; random loss goes unnoticed.
      this.defer(msg.from, (raft) => raft.reportUnreachable(msg.to));
    }
    if (dropped !== null && msg.type === 'snap') this.reportSnap(msg, false);
  }

  role(id: NodeId, role: Role, leader: NodeId | null, term: number): void {
    this.roles.set(id, { role, term });
    this.log(`${id} is ${role} at term ${term} (leader ${leader ?? 'none'})`);
    if (role !== 'leader') {
      // A client whose leader stepped down gives up: a write's outcome is then unknown, and a
      // read not yet confirmed by a heartbeat round is abandoned. A confirmed read stays valid.
      for (const c of this.clients) {
        const op = c.op;
        if (op === null || op.node !== id) continue;
        if (op.kind === 'put' || op.readIndex === null) {
          this.deferred.push(() => {
            if (c.op === op) this.timeOut(c);
          });
        }
      }
    }
    if (role === 'leader') {
      this.stats.leaders++;
      this.checker.observeLeader(id, term);
      const host = this.hosts.get(id);
      if (host !== undefined) {
        const storage = host.storage;
        this.checker.observeNewLeader(id, term, storage.snapshotIndex(), (i) => storage.termAt(i));
      }
    }
  }

  persisted(id: NodeId, prevTerm: number | undefined, entries: readonly Entry[]): void {
    this.checker.observeLog(id, prevTerm, entries);
  }

  snapshotInstalled(id: NodeId, snap: Snapshot): void {
    this.stats.snapshotsInstalled++;
    this.log(`${id} installed snapshot ${snap.meta.index}/${snap.meta.term}`);
    this.checker.observeSnapshot(id, snap.meta.index, snap.meta.term);
  }

  apply(id: NodeId, e: Entry): void {
    const first = this.checker.appliedEntry(e.index) === undefined;
    this.checker.observeApply(id, e);
    if (!first) return;
    if (e.index > this.stats.maxCommitted) this.stats.maxCommitted = e.index;
    if (this.tracing) this.log(`${id} applied ${e.index}/${e.term} ${e.type} ${e.data}`);
    for (const c of this.clients) {
      const op = c.op;
      if (op !== null && op.kind === 'put' && op.index === e.index) this.resolveWrite(c, op, e);
    }
    if (e.type === 'conf') {
      const cc = JSON.parse(e.data) as ConfChange;
      if (this.confOp !== null && this.confOp.index === e.index) this.confOp = null;
      if (cc.op === 'remove') {
        // The operator shuts a removed member down once its removal is committed.
        this.deferred.push(() => this.decommission(cc.id));
      }
    }
  }

  readState(id: NodeId, rs: ReadState): void {
    for (const c of this.clients) {
      const op = c.op;
      if (op !== null && op.kind === 'get' && op.ctx === rs.context && op.node === id) {
        op.readIndex = rs.index;
      }
    }
  }

  violation(message: string): void {
    this.checker.violations.push(`t=${this.now} ${message}`);
  }

  // --- driving nodes --------------------------------------------------------------------------

  private defer(id: NodeId, f: (raft: RaftNode) => void): void {
    this.deferred.push(() => {
      const raft = this.liveHost(id)?.raft;
      if (raft !== null && raft !== undefined) {
        f(raft);
        this.process(id);
      }
    });
  }

  private reportSnap(msg: Message, ok: boolean): void {
    if (this.reportedSnaps.has(msg)) return;
    this.reportedSnaps.add(msg);
    this.defer(msg.from, (raft) => raft.reportSnapshot(msg.to, ok));
  }

  private liveHost(id: NodeId): NodeHost | undefined {
    const h = this.hosts.get(id);
    return h !== undefined && h.alive ? h : undefined;
  }

  /** Handles a node's Readies, then whatever they triggered, and serves reads now possible. */
  process(id: NodeId): void {
    const host = this.liveHost(id);
    if (host === undefined) return;
    host.process();
    this.serveReads(host);
    while (this.deferred.length > 0) {
      const work = this.deferred;
      this.deferred = [];
      for (const f of work) f();
    }
  }

  private serveReads(host: NodeHost): void {
    for (const c of this.clients) {
      const op = c.op;
      if (op === null || op.kind !== 'get' || op.node !== host.id || op.readIndex === null)
        continue;
      if (host.sm.applied < op.readIndex) continue;
      const value = host.sm.kv.get(op.key) ?? null;
      this.record(c, { kind: 'get', key: op.key, value, call: op.call, status: 'ok' });
      this.stats.readsOk++;
      this.log(
        `c${c.id} read ${op.key}=${value ?? 'null'} from ${host.id} at index ${op.readIndex}`,
      );
      c.op = null;
    }
  }

  private record(c: Client, op: Omit<HistoryOp, 'client' | 'ret'>): void {
    this.history.push({ ...op, client: c.id, ret: ++this.clock });
    c.nextAt = this.now + this.rng.range(0, 3);
  }

  private resolveWrite(c: Client, op: PendingWrite, e: Entry): void {
    const mine = e.term === op.term && e.data === `${op.key}=${op.value}`;
    // Entries never move to another index, so a different entry here means ours is gone.
    this.record(c, {
      kind: 'put',
      key: op.key,
      value: op.value,
      call: op.call,
      status: mine ? 'ok' : 'failed',
    });
    if (mine) this.stats.writesOk++;
    else this.stats.writesFailed++;
    this.log(`c${c.id} put ${op.key}=${op.value} ${mine ? 'ok' : 'failed'} at ${e.index}`);
    c.op = null;
  }

  private crash(id: NodeId): void {
    const host = this.liveHost(id);
    if (host === undefined) return;
    host.crash();
    this.roles.delete(id);
    this.log(`${id} crashed`);
    // Clients talking to it learn nothing more: a write's outcome stays unknown.
    for (const c of this.clients) if (c.op !== null && c.op.node === id) this.timeOut(c);
  }

  private restart(id: NodeId): void {
    const host = this.hosts.get(id);
    if (host === undefined || host.alive) return;
    let keepSm = this.rng.chance(0.7);
    if (this.opts.mutation === 'lose-log-tail') {
      // A disk that acknowledged writes it did not keep: the newest entries vanish.
      const st = host.storage;
      const keepTo = Math.max(st.snapshotIndex(), st.lastIndex() - 3);
      st.entries = st.entries.filter((e) => e.index <= keepTo);
      st.hardState.commit = Math.min(st.hardState.commit, st.lastIndex());
      if (host.sm.applied > st.hardState.commit) keepSm = false;
    }
    host.restart(keepSm);
    this.log(`${id} restarted (state machine ${keepSm ? 'kept' : 'rebuilt from snapshot'})`);
    this.process(id);
  }

  private decommission(id: NodeId): void {
    if (this.decommissioned.has(id)) return;
    this.decommissioned.add(id);
    this.log(`${id} decommissioned`);
    this.crash(id);
  }

  private timeOut(c: Client): void {
    const op = c.op;
    if (op === null) return;
    if (op.kind === 'put') {
      this.history.push({
        client: c.id,
        kind: 'put',
        key: op.key,
        value: op.value,
        call: op.call,
        ret: ++this.clock,
        status: 'unknown',
      });
      this.stats.writesUnknown++;
      this.log(`c${c.id} put ${op.key}=${op.value} outcome unknown`);
    } else {
      // A read that never returned had no effect: leave it out.
      this.stats.readsFailed++;
    }
    c.op = null;
    c.leaderHint = null;
    c.nextAt = this.now + 1;
  }

  /** The live node that most recently became leader, if it still thinks it leads. */
  leader(): NodeHost | undefined {
    let best: NodeHost | undefined;
    let bestTerm = -1;
    for (const [id, r] of this.roles) {
      const h = this.liveHost(id);
      if (h !== undefined && r.role === 'leader' && r.term > bestTerm) {
        best = h;
        bestTerm = r.term;
      }
    }
    return best;
  }

  /** Running hosts (crashed and decommissioned ones are not), in a stable order. */
  private live(): NodeHost[] {
    return [...this.hosts.values()].filter((h) => h.alive);
  }

  // --- workload -------------------------------------------------------------------------------

  private runClients(issue: boolean): void {
    for (const c of this.clients) {
      if (c.op !== null) {
        if (this.now >= c.op.deadline) this.timeOut(c);
        continue;
      }
      if (!issue || this.now < c.nextAt) continue;
      const hinted = c.leaderHint !== null ? this.liveHost(c.leaderHint) : undefined;
      const candidates = this.live();
      if (candidates.length === 0) continue;
      const host = hinted ?? this.rng.pick(candidates);
      const raft = host.raft;
      if (raft === null) continue;
      const key = this.rng.pick(KEYS);
      c.seq++;
      const call = ++this.clock;
      if (this.rng.chance(0.5)) {
        const value = `${c.id}.${c.seq}`;
        const res = raft.propose(`${key}=${value}`);
        if (!res.ok) {
          this.history.push({
            client: c.id,
            kind: 'put',
            key,
            value,
            call,
            ret: ++this.clock,
            status: 'failed',
          });
          this.stats.writesFailed++;
          c.leaderHint = res.leader;
          c.nextAt = this.now + 1;
          continue;
        }
        const op: PendingWrite = {
          kind: 'put',
          key,
          value,
          node: host.id,
          call,
          deadline: this.now + OP_TIMEOUT,
          index: res.index,
          term: res.term,
        };
        c.op = op;
        c.leaderHint = host.id;
        this.log(`c${c.id} put ${key}=${value} via ${host.id} at ${res.index}/${res.term}`);
        if (this.opts.mutation === 'early-ack') {
          this.record(c, { kind: 'put', key, value, call, status: 'ok' });
          c.op = null;
        }
        // A stale leader may propose at an index already decided otherwise.
        const decided = this.checker.appliedEntry(res.index);
        if (decided !== undefined) this.resolveWrite(c, op, decided);
      } else if (
        this.opts.mutation === 'stale-reads' ||
        (this.opts.mutation === 'leader-reads' && raft.status().role === 'leader')
      ) {
        this.record(c, {
          kind: 'get',
          key,
          value: host.sm.kv.get(key) ?? null,
          call,
          status: 'ok',
        });
        this.stats.readsOk++;
      } else {
        const ctx = `c${c.id}.${c.seq}`;
        const op: PendingRead = {
          kind: 'get',
          key,
          node: host.id,
          call,
          deadline: this.now + OP_TIMEOUT,
          ctx,
          readIndex: null,
        };
        c.op = op;
        const res = raft.readIndex(ctx);
        if (!res.ok) {
          c.op = null;
          this.stats.readsFailed++;
          c.leaderHint = res.leader;
          c.nextAt = this.now + 1;
          continue;
        }
        c.leaderHint = host.id;
        this.log(`c${c.id} read ${key} via ${host.id} (${ctx})`);
      }
      this.process(host.id);
    }
  }

  // --- faults ---------------------------------------------------------------------------------

  private faults(): void {
    const m = this.mix;
    const rng = this.rng;
    if (this.net.partitioned()) {
      if (rng.chance(m.heal)) {
        this.net.heal();
        this.log('heal');
      }
    } else if (rng.chance(m.partition)) {
      this.stats.partitions++;
      const ids = [...this.hosts.keys()];
      const leader = this.leader();
      const kind = rng.int(3);
      if (kind === 0 && leader !== undefined) {
        this.net.isolate(leader.id);
        this.log(`isolate leader ${leader.id}`);
      } else if (kind === 1) {
        const id = rng.pick(ids);
        this.net.isolate(id);
        this.log(`isolate ${id}`);
      } else {
        const side = ids.filter(() => rng.chance(0.5));
        this.net.split([side, ids.filter((id) => !side.includes(id))]);
        this.log(`split (${side.join(',')})`);
      }
    }
    for (const h of [...this.hosts.values()]) {
      if (h.alive) {
        if (rng.chance(m.crash)) {
          this.stats.crashes++;
          this.crash(h.id);
        }
      } else if (!this.decommissioned.has(h.id) && rng.chance(m.restart)) {
        this.restart(h.id);
      }
    }
    if (this.formationPending()) return;
    if (rng.chance(m.confChange)) this.changeMembership();
    if (rng.chance(m.transfer)) {
      const leader = this.leader();
      const raft = leader?.raft;
      if (leader !== undefined && raft !== null && raft !== undefined) {
        const voters = raft.status().conf.voters.filter((v) => v !== leader.id);
        if (voters.length > 0) {
          const to = rng.pick(voters);
          const res = raft.transferLeadership(to);
          this.stats.transfers++;
          this.log(`transfer ${leader.id} -> ${to}: ${res.ok ? 'ok' : res.reason}`);
          this.process(leader.id);
        }
      }
    }
    if (rng.chance(m.compact)) {
      const live = this.live();
      if (live.length > 0) {
        const h = rng.pick(live);
        const retain = rng.range(0, 4);
        if (h.compact(retain)) {
          this.stats.compactions++;
          this.log(`${h.id} compacted at ${h.sm.applied} retaining ${retain}`);
          this.checker.observeSnapshot(h.id, h.sm.applied, h.storage.termAt(h.sm.applied) ?? -1);
          this.process(h.id);
        }
      }
    }
  }

  /** Bootstrap mode: the initial members not yet added; added one at a time by the operator. */
  private formationPending(): boolean {
    if (this.formed) return false;
    const leader = this.leader();
    const raft = leader?.raft;
    if (raft === null || raft === undefined) return true;
    const conf = raft.status().conf;
    const missing = Array.from({ length: this.members }, (_, i) => `n${i + 1}`).filter(
      (id) => !conf.voters.includes(id),
    );
    if (missing.length === 0) {
      this.formed = true;
      return false;
    }
    this.expireConfOp();
    if (this.confOp === null)
      this.proposeConf(leader as NodeHost, { op: 'add-voter', id: missing[0] as NodeId });
    return true;
  }

  private expireConfOp(): void {
    if (this.confOp !== null && this.now >= this.confOp.deadline) this.confOp = null;
  }

  private changeMembership(): void {
    this.expireConfOp();
    if (this.confOp !== null) return;
    const leader = this.leader();
    const raft = leader?.raft;
    if (leader === undefined || raft === null || raft === undefined) return;
    const conf: ConfState = raft.status().conf;
    const members = new Set([...conf.voters, ...conf.learners]);
    const outside = [...this.hosts.keys()].filter((id) => !members.has(id));
    const rng = this.rng;
    let cc: ConfChange;
    const learner = conf.learners[0];
    if (learner !== undefined) {
      cc = { op: 'add-voter', id: learner };
    } else if (conf.voters.length < this.members && outside.length > 0) {
      // Re-add a removed member: it restarts from the storage it kept.
      cc = { op: 'add-voter', id: rng.pick(outside) };
    } else if (
      conf.voters.length <= this.members &&
      this.nextNodeNumber <= this.members + 2 &&
      rng.chance(0.5)
    ) {
      const id = `n${this.nextNodeNumber++}`;
      this.newHost(id).start(emptyBoot());
      cc = { op: rng.chance(0.5) ? 'add-learner' : 'add-voter', id };
    } else {
      // Now and then the leader removes itself: it must hand over once the change commits.
      const removable = rng.chance(0.2) ? conf.voters : conf.voters.filter((v) => v !== leader.id);
      if (conf.voters.length <= 2 || removable.length === 0) return;
      cc = { op: 'remove', id: rng.pick(removable) };
    }
    if (cc.op !== 'remove') {
      this.decommissioned.delete(cc.id);
      this.restart(cc.id);
    }
    this.proposeConf(leader, cc);
  }

  private proposeConf(leader: NodeHost, cc: ConfChange): void {
    const raft = leader.raft;
    if (raft === null) return;
    const res = raft.proposeConfChange(cc);
    this.log(
      `conf change ${cc.op} ${cc.id} via ${leader.id}: ${res.ok ? `index ${res.index}` : res.reason}`,
    );
    if (res.ok) {
      this.stats.confChanges++;
      this.confOp = { cc, index: res.index, deadline: this.now + 100 };
    }
    this.process(leader.id);
  }

  // --- main loop ------------------------------------------------------------------------------

  step(withFaults: boolean): void {
    this.now++;
    this.stats.ticks++;
    if (withFaults) this.faults();
    this.runClients(withFaults);
    for (const h of this.live()) {
      h.raft?.tick();
      this.process(h.id);
    }
    let delivered = 0;
    for (;;) {
      const next = this.net.next(this.now);
      if (next === undefined) break;
      if (++delivered > 100_000) {
        this.violation('more than 100000 messages delivered within one tick');
        break;
      }
      const { msg, cut } = next;
      const host = this.liveHost(msg.to);
      if (cut || host === undefined) {
        if (this.tracing) this.log(`drop ${formatMessage(msg)}`);
        if (msg.type === 'snap') this.reportSnap(msg, false);
        if (host === undefined) this.defer(msg.from, (raft) => raft.reportUnreachable(msg.to));
        this.process(msg.from);
        continue;
      }
      if (this.tracing) this.log(`recv ${formatMessage(msg)}`);
      host.raft?.step(msg);
      this.process(msg.to);
      if (msg.type === 'snap') {
        this.reportSnap(msg, true);
        this.process(msg.from);
      }
    }
  }

  /** After the faults stop: whether one leader leads every member and all have applied all. */
  converged(): string | null {
    const leader = this.leader();
    const raft = leader?.raft;
    if (leader === undefined || raft === null || raft === undefined) return 'no leader';
    const st = raft.status();
    if (st.role !== 'leader') return `${leader.id} is no longer leader`;
    if (st.commit !== st.lastIndex)
      return `leader ${leader.id} commit ${st.commit} < last ${st.lastIndex}`;
    const data = leader.sm.serialize();
    for (const id of [...st.conf.voters, ...st.conf.learners]) {
      const h = this.liveHost(id);
      const r = h?.raft;
      if (h === undefined || r === null || r === undefined) return `member ${id} is down`;
      const s = r.status();
      if (s.leader !== leader.id || s.term !== st.term)
        return `${id} follows ${String(s.leader)} at term ${s.term}`;
      if (s.applied !== st.commit || h.sm.applied !== st.commit) {
        return `${id} applied ${h.sm.applied}, leader commit ${st.commit}`;
      }
      if (h.sm.serialize() !== data) return `${id}'s state machine differs from the leader's`;
    }
    if (this.confOp !== null) return 'a membership change is pending';
    return null;
  }

  run(): SimReport {
    try {
      this.runPhases();
    } catch (err) {
      // A throw from the core (an invariant or a refused boot state) is a finding like any other.
      this.violation(
        `exception: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
    }
    return {
      seed: this.opts.seed,
      description: this.describe(),
      violations: this.checker.violations,
      linearizability: checkLinearizable(this.history),
      history: this.history,
      trace: this.trace,
      stats: this.stats,
    };
  }

  private runPhases(): void {
    const ticks = this.opts.ticks ?? 200;
    const settle = this.opts.settleTicks ?? 300;
    this.log(`start ${this.describe()}`);
    for (let i = 0; i < ticks; i++) this.step(true);
    // Heal everything: no more faults, every non-removed node back up, a reliable network.
    this.net.heal();
    this.net.config = { loss: 0, duplicate: 0, minDelay: 0, maxDelay: 1 };
    for (const h of this.hosts.values())
      if (!h.alive && !this.decommissioned.has(h.id)) this.restart(h.id);
    this.log('faults stopped');
    let reason: string | null = 'not checked';
    for (let i = 0; i < settle; i++) {
      this.step(false);
      this.formationPending();
      if (i % 5 === 4) {
        this.expireConfOp();
        reason = this.converged();
        if (reason === null) break;
      }
    }
    for (const c of this.clients) if (c.op !== null) this.timeOut(c);
    if (reason !== null) {
      this.checker.violations.push(
        `liveness: no agreement ${settle} ticks after healing: ${reason}`,
      );
    }
  }
}

function emptyBoot(): RaftBootState {
  return { hardState: { term: 0, vote: null, commit: 0 }, entries: [], applied: 0 };
}

function forkRandom(rng: Prng): () => number {
  const own = rng.fork();
  return () => own.next();
}

/** A compact one-line form of a message for traces. */
export function formatMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} t${m.term}`;
  if (m.index !== undefined) s += ` i${m.index}`;
  if (m.logTerm !== undefined) s += ` lt${m.logTerm}`;
  if (m.commit !== undefined) s += ` c${m.commit}`;
  if (m.entries !== undefined && m.entries.length > 0) {
    s += ` [${m.entries.map((e) => `${e.index}/${e.term}`).join(' ')}]`;
  }
  if (m.reject === true)
    s += m.rejectHint !== undefined ? ` reject(hint ${m.rejectHint})` : ' reject';
  if (m.snapshot !== undefined) s += ` snap ${m.snapshot.meta.index}/${m.snapshot.meta.term}`;
  if (m.context !== undefined) s += ` ctx=${m.context}`;
  return s;
}

/** Runs one seeded simulation to the end and checks it. */
export function runSimulation(opts: SimOptions): SimReport {
  return new Simulation(opts).run();
}
