// An in-memory network of Raft cores for unit tests: persists, delivers and applies each Ready.
import assert from 'node:assert/strict';
import { RaftNode } from '../../manager/raft/core/index.js';
import type {
  Entry,
  HardState,
  Message,
  NodeId,
  RaftBootState,
  RaftConfig,
  ReadState,
  Snapshot,
} from '../../manager/raft/core/index.js';

export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Disk {
  hardState: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  applied: number;
  appliedData: string[];
  readStates: ReadState[];
  snapshotsSeen: number;
}

export function config(id: NodeId, over: Partial<RaftConfig> = {}): RaftConfig {
  let seed = 7;
  for (const ch of id) seed = seed * 31 + ch.charCodeAt(0);
  return {
    id,
    electionTick: 10,
    heartbeatTick: 1,
    preVote: false,
    checkQuorum: false,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 256,
    maxUncommittedSize: 0,
    random: seeded(seed),
    ...over,
  };
}

/** Boot state of a cluster member whose log starts with one committed add-voter entry per id. */
export function clusterBoot(ids: NodeId[]): RaftBootState {
  const entries: Entry[] = ids.map((id, i) => ({
    index: i + 1,
    term: 1,
    type: 'conf',
    data: JSON.stringify({ op: 'add-voter', id }),
  }));
  return { hardState: { term: 1, vote: null, commit: ids.length }, entries, applied: 0 };
}

export const emptyBoot = (): RaftBootState => ({
  hardState: { term: 0, vote: null, commit: 0 },
  entries: [],
  applied: 0,
});

export class Net {
  nodes = new Map<NodeId, RaftNode>();
  disks = new Map<NodeId, Disk>();
  queue: Message[] = [];
  sent: Message[] = [];
  cut = new Set<string>();
  /** Return false to drop a message. */
  filter: (m: Message) => boolean = () => true;

  constructor(
    ids: NodeId[],
    private readonly over: Partial<RaftConfig> = {},
    boot: (id: NodeId) => RaftBootState = () => clusterBoot(ids),
  ) {
    for (const id of ids) this.add(id, boot(id));
  }

  add(id: NodeId, boot: RaftBootState, over: Partial<RaftConfig> = {}): RaftNode {
    const n = new RaftNode(config(id, { ...this.over, ...over }), boot);
    this.nodes.set(id, n);
    const disk: Disk = {
      hardState: { ...boot.hardState },
      entries: boot.entries.slice(),
      applied: boot.applied,
      appliedData: [],
      readStates: [],
      snapshotsSeen: 0,
    };
    if (boot.snapshot) disk.snapshot = boot.snapshot;
    this.disks.set(id, disk);
    return n;
  }

  node(id: NodeId): RaftNode {
    const n = this.nodes.get(id);
    assert.ok(n, `no node ${id}`);
    return n;
  }

  disk(id: NodeId): Disk {
    const d = this.disks.get(id);
    assert.ok(d, `no disk ${id}`);
    return d;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Persists, sends and applies one node's Ready. */
  process(id: NodeId): boolean {
    const n = this.node(id);
    if (!n.hasReady()) return false;
    const rd = n.ready();
    const d = this.disk(id);
    if (rd.hardState) d.hardState = rd.hardState;
    if (rd.snapshot) {
      d.snapshot = rd.snapshot;
      d.entries = d.entries.filter((e) => e.index > (rd.snapshot?.meta.index ?? 0));
      d.applied = rd.snapshot.meta.index;
      d.snapshotsSeen++;
      // Snapshots taken in the chaos test carry the applied data as JSON.
      if (rd.snapshot.data.startsWith('['))
        d.appliedData = JSON.parse(rd.snapshot.data) as string[];
    }
    const first = rd.entries[0];
    if (first) d.entries = d.entries.filter((e) => e.index < first.index).concat(rd.entries);
    for (const m of rd.messages) {
      this.sent.push(m);
      if (!this.cut.has(`${m.from}>${m.to}`) && this.filter(m)) this.queue.push(m);
    }
    for (const e of rd.committed) {
      if (e.type === 'normal' && e.data !== '') d.appliedData.push(e.data);
      d.applied = e.index;
    }
    d.readStates.push(...rd.readStates);
    n.advance();
    return true;
  }

  /** Runs Ready processing and message delivery until quiet. */
  stabilize(limit = 10_000): void {
    for (let i = 0; i < limit; i++) {
      let busy = false;
      for (const id of [...this.nodes.keys()].sort()) busy = this.process(id) || busy;
      const q = this.queue;
      this.queue = [];
      for (const m of q) {
        const to = this.nodes.get(m.to);
        if (!to || this.cut.has(`${m.from}>${m.to}`)) continue;
        to.step(m);
        if (m.type === 'snap') this.nodes.get(m.from)?.reportSnapshot(m.to, true);
        busy = true;
      }
      if (!busy) return;
    }
    assert.fail('network did not settle');
  }

  tick(times = 1, ids: NodeId[] = [...this.nodes.keys()]): void {
    for (let t = 0; t < times; t++) {
      for (const id of ids) this.node(id).tick();
      this.stabilize();
    }
  }

  elect(id: NodeId): RaftNode {
    this.node(id).campaign();
    this.stabilize();
    assert.equal(this.node(id).status().role, 'leader');
    return this.node(id);
  }

  leaders(): NodeId[] {
    return [...this.nodes.keys()].filter((id) => this.node(id).status().role === 'leader');
  }

  /** The last `data` entries each node applied, to compare state machines. */
  applied(id: NodeId): string[] {
    return this.disk(id).appliedData;
  }
}
