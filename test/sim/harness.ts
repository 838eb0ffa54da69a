// One simulated server: a RaftNode with faithful in-memory storage and a key-value state machine, driven through Ready.
import { RaftNode } from '../../manager/raft/core/index.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  RaftBootState,
  RaftConfig,
  ReadState,
  Ready,
  Role,
  Snapshot,
} from '../../manager/raft/core/types.js';

/** What a node's disk holds; survives crashes. */
export class MemStorage {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];

  snapshotIndex(): number {
    return this.snapshot?.meta.index ?? 0;
  }

  lastIndex(): number {
    const last = this.entries[this.entries.length - 1];
    return last !== undefined ? last.index : this.snapshotIndex();
  }

  /** Term of the entry at `index`, from the log or the snapshot point; undefined if not held. */
  termAt(index: number): number | undefined {
    if (this.snapshot !== undefined && index === this.snapshot.meta.index)
      return this.snapshot.meta.term;
    if (index === 0) return 0;
    const first = this.entries[0];
    if (first === undefined || index < first.index) return undefined;
    return this.entries[index - first.index]?.term;
  }

  entryAt(index: number): Entry | undefined {
    const first = this.entries[0];
    if (first === undefined || index < first.index) return undefined;
    return this.entries[index - first.index];
  }

  /** Persists the durable part of a Ready in one step; returns a description of anything the
   * core asked for that storage cannot represent (a core bug), or null. */
  persist(rd: Ready): string | null {
    let problem: string | null = null;
    if (rd.hardState !== undefined) {
      const hs = rd.hardState;
      const old = this.hardState;
      if (hs.term < old.term) problem = `hard state term went back from ${old.term} to ${hs.term}`;
      else if (hs.term === old.term && old.vote !== null && hs.vote !== old.vote) {
        problem = `vote changed within term ${hs.term} from ${old.vote} to ${String(hs.vote)}`;
      } else if (hs.commit < old.commit) {
        problem = `commit went back from ${old.commit} to ${hs.commit}`;
      }
      this.hardState = { ...hs };
    }
    if (rd.snapshot !== undefined) {
      // A received snapshot replaces the whole log.
      this.snapshot = cloneSnapshot(rd.snapshot);
      this.entries = [];
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      if (first.index > this.lastIndex() + 1) {
        problem = `entries start at ${first.index} but the log ends at ${this.lastIndex()}`;
      } else if (first.index <= this.snapshotIndex()) {
        problem = `entries start at ${first.index}, inside the snapshot at ${this.snapshotIndex()}`;
      }
      const keepFirst = this.entries[0];
      const keep =
        keepFirst === undefined
          ? 0
          : Math.max(0, Math.min(this.entries.length, first.index - keepFirst.index));
      this.entries = this.entries.slice(0, keep);
      for (let i = 0; i < rd.entries.length; i++) {
        const e = rd.entries[i] as Entry;
        if (e.index !== first.index + i)
          problem = `entries to persist are not contiguous at ${e.index}`;
        this.entries.push({ ...e });
      }
    }
    return problem;
  }

  /** A local snapshot at `snap.meta.index`, keeping `retain` entries before it for lagging peers. */
  compact(snap: Snapshot, retain: number): void {
    this.snapshot = cloneSnapshot(snap);
    const keepFrom = snap.meta.index - retain + 1;
    this.entries = this.entries.filter((e) => e.index >= keepFrom);
  }

  boot(applied: number): RaftBootState {
    const boot: RaftBootState = {
      hardState: { ...this.hardState },
      entries: this.entries.map((e) => ({ ...e })),
      applied,
    };
    if (this.snapshot !== undefined) boot.snapshot = cloneSnapshot(this.snapshot);
    return boot;
  }
}

function cloneSnapshot(s: Snapshot): Snapshot {
  return {
    meta: {
      index: s.meta.index,
      term: s.meta.term,
      conf: { voters: [...s.meta.conf.voters], learners: [...s.meta.conf.learners] },
    },
    data: s.data,
  };
}

/** A key-value register per key. Entry data "k=v" is a put; '' (a leader's empty entry) and
 * anything else is a no-op. Conf entries update the membership it records for snapshots. */
export class KvStateMachine {
  applied = 0;
  kv = new Map<string, string>();
  conf: ConfState = { voters: [], learners: [] };

  apply(e: Entry): void {
    this.applied = e.index;
    if (e.type === 'conf') {
      const cc = JSON.parse(e.data) as ConfChange;
      const voters = this.conf.voters.filter((v) => v !== cc.id);
      const learners = this.conf.learners.filter((v) => v !== cc.id);
      if (cc.op === 'add-voter') voters.push(cc.id);
      else if (cc.op === 'add-learner') learners.push(cc.id);
      this.conf = { voters: voters.sort(), learners: learners.sort() };
      return;
    }
    const eq = e.data.indexOf('=');
    if (eq > 0) this.kv.set(e.data.slice(0, eq), e.data.slice(eq + 1));
  }

  serialize(): string {
    return JSON.stringify({ kv: Object.fromEntries([...this.kv.entries()].sort()) });
  }

  restore(snap: Snapshot): void {
    const parsed = JSON.parse(snap.data === '' ? '{}' : snap.data) as {
      kv?: Record<string, string>;
    };
    this.kv = new Map(Object.entries(parsed.kv ?? {}));
    this.conf = {
      voters: [...snap.meta.conf.voters].sort(),
      learners: [...snap.meta.conf.learners].sort(),
    };
    this.applied = snap.meta.index;
  }

  clone(): KvStateMachine {
    const c = new KvStateMachine();
    c.applied = this.applied;
    c.kv = new Map(this.kv);
    c.conf = { voters: [...this.conf.voters], learners: [...this.conf.learners] };
    return c;
  }
}

/** Callbacks through which a host reports what its node did. */
export interface HostEvents {
  send(msg: Message): void;
  role(id: NodeId, role: Role, leader: NodeId | null, term: number): void;
  persisted(id: NodeId, prevTerm: number | undefined, entries: readonly Entry[]): void;
  snapshotInstalled(id: NodeId, snap: Snapshot): void;
  apply(id: NodeId, e: Entry): void;
  readState(id: NodeId, rs: ReadState): void;
  violation(message: string): void;
}

export type ConfigTemplate = Omit<RaftConfig, 'id' | 'random'>;

/** A server: storage and a persisted copy of the state machine survive a crash; the RaftNode
 * and the in-memory state machine do not. */
export class NodeHost {
  readonly storage = new MemStorage();
  sm = new KvStateMachine();
  /** The state machine as of the last completed apply (it is persisted with its applied index). */
  private durableSm = new KvStateMachine();
  raft: RaftNode | null = null;

  constructor(
    readonly id: NodeId,
    private readonly config: ConfigTemplate,
    private readonly random: () => number,
    private readonly events: HostEvents,
  ) {}

  get alive(): boolean {
    return this.raft !== null;
  }

  private makeConfig(): RaftConfig {
    return { ...this.config, id: this.id, random: this.random };
  }

  /** Starts from an explicit boot state (new node, bootstrap or a prepared cluster). */
  start(boot: RaftBootState, sm?: KvStateMachine): void {
    this.storage.hardState = { ...boot.hardState };
    this.storage.snapshot = boot.snapshot !== undefined ? cloneSnapshot(boot.snapshot) : undefined;
    this.storage.entries = boot.entries.map((e) => ({ ...e }));
    this.sm = sm?.clone() ?? new KvStateMachine();
    if (sm === undefined && boot.snapshot !== undefined) this.sm.restore(boot.snapshot);
    // A boot state may count entries as applied (bootstrap's first conf entry): reflect them.
    for (const e of boot.entries)
      if (e.index > this.sm.applied && e.index <= boot.applied) this.sm.apply(e);
    this.durableSm = this.sm.clone();
    this.raft = new RaftNode(this.makeConfig(), this.storage.boot(this.sm.applied));
  }

  crash(): void {
    this.raft = null;
  }

  /** Rebuilds the node from disk. With `keepStateMachine` false the state machine's own file is
   * taken as lost too, so it restarts from the snapshot and the core must re-apply the rest. */
  restart(keepStateMachine: boolean): void {
    if (keepStateMachine) {
      this.sm = this.durableSm.clone();
    } else {
      this.sm = new KvStateMachine();
      if (this.storage.snapshot !== undefined) this.sm.restore(this.storage.snapshot);
      this.durableSm = this.sm.clone();
    }
    this.raft = new RaftNode(this.makeConfig(), this.storage.boot(this.sm.applied));
  }

  /** Handles every pending Ready: persist, send, apply (snapshot first), then advance. */
  process(): void {
    const raft = this.raft;
    if (raft === null) return;
    let rounds = 0;
    while (raft.hasReady()) {
      if (++rounds > 1000) {
        this.events.violation(`${this.id}: hasReady() stays true after 1000 Ready rounds`);
        return;
      }
      const rd = raft.ready();
      const problem = this.storage.persist(rd);
      if (problem !== null) this.events.violation(`${this.id}: storage: ${problem}`);
      const first = rd.entries[0];
      if (first !== undefined) {
        this.events.persisted(this.id, this.storage.termAt(first.index - 1), rd.entries);
      }
      if (rd.softState !== undefined) {
        this.events.role(
          this.id,
          rd.softState.role,
          rd.softState.leader,
          this.storage.hardState.term,
        );
      }
      for (const m of rd.messages) this.events.send(m);
      if (rd.snapshot !== undefined) {
        this.sm.restore(rd.snapshot);
        this.events.snapshotInstalled(this.id, rd.snapshot);
      }
      for (const e of rd.committed) {
        if (e.index !== this.sm.applied + 1) {
          this.events.violation(`${this.id}: applies ${e.index} after ${this.sm.applied}`);
        }
        if (e.index > this.storage.hardState.commit) {
          this.events.violation(
            `${this.id}: applies ${e.index} beyond its persisted commit ${this.storage.hardState.commit}`,
          );
        }
        this.sm.apply(e);
        this.events.apply(this.id, e);
      }
      if (rd.snapshot !== undefined || rd.committed.length > 0) this.durableSm = this.sm.clone();
      for (const rs of rd.readStates) this.events.readState(this.id, rs);
      raft.advance();
    }
  }

  /** Takes a snapshot at the applied index and trims the log, as the caller of compact() must. */
  compact(retain: number): boolean {
    const raft = this.raft;
    const index = this.sm.applied;
    const term = this.storage.termAt(index);
    if (raft === null || index <= this.storage.snapshotIndex() || term === undefined) return false;
    const data = this.sm.serialize();
    raft.compact(data, retain);
    this.storage.compact({ meta: { index, term, conf: this.sm.conf }, data }, retain);
    this.durableSm = this.sm.clone();
    return true;
  }
}
