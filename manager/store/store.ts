// The cluster state machine on SQLite: commands apply in one transaction with the applied index.
import Database from 'better-sqlite3';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../shared/spec.js';
import {
  emptyChangeSet,
  type ChangeSet,
  type ClusterRecord,
  type MemberRecord,
  type Proposal,
} from './commands.js';
import { WriteConflict, isDeterministicFailure } from './conflict.js';
import { dumpSchema, type StoreDump } from './dump.js';
import { effectOf, idsOf, type Effect } from './effects.js';
import { KINDS, KIND_NAMES, kindSpec, type KindName } from './kinds.js';
import { Table, kindSchema, type StoredRecord } from './table.js';
import { StoreReads, type Tables } from './store-reads.js';
import type { StoreView } from './view.js';

/**
 * Kinds newer than the first snapshot format: left out of a dump while empty, so a cluster that
 * does not use them writes the snapshots it always wrote (and older managers read them).
 */
const OPTIONAL_IN_DUMP: ReadonlySet<KindName> = new Set([
  'networks',
  'stacks',
  'images',
  'releases',
  'upgrades',
  'dashboardTokens',
  'events',
]);

export type { StoreView } from './view.js';

const SCHEMA = [
  'CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);',
  ...KIND_NAMES.map((k) => kindSchema(KINDS[k])),
  'CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, response TEXT NOT NULL, applied_index INTEGER NOT NULL);',
].join('\n');

export class Store extends StoreReads implements StoreView {
  private readonly db: Database.Database;
  private index = 0;
  private clusterRec: ClusterRecord | undefined;
  private memberList: MemberRecord[] = [];
  private readonly stmts;

  constructor(file: string) {
    super();
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL: the Raft log is fsynced before a write is acknowledged, and whatever the last
    // transactions here lose in a power cut is applied again from it (or from its snapshot).
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.tables = Object.fromEntries(
      KIND_NAMES.map((k) => [k, new Table(this.db, kindSpec(k))]),
    ) as unknown as Tables;
    this.stmts = {
      setMeta: this.db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)'),
      putRequest: this.db.prepare(
        'INSERT OR IGNORE INTO requests(key, response, applied_index) VALUES (?, ?, ?)',
      ),
      getRequest: this.db.prepare('SELECT response FROM requests WHERE key = ?'),
      trimRequests: this.db.prepare('DELETE FROM requests WHERE applied_index < ?'),
    };
    this.load();
  }

  get appliedIndex(): number {
    return this.index;
  }

  /**
   * Applies a proposal atomically at `index` (the Raft index; the next one by default) and returns
   * what changed; emits 'change' afterwards. A proposal computed from records that have changed
   * since, or that breaks a uniqueness rule, is refused the same way on every manager: the index
   * is still consumed and WriteConflict is thrown. Other failures (a full disk) leave the store
   * as it was and are thrown as they are.
   */
  apply(p: Proposal, index = this.index + 1): ChangeSet {
    this.checkIndex(index);
    const changes = emptyChangeSet(index);
    if (p.request && this.requestResponse(p.request.key) !== undefined) {
      // Two copies of one client request were both proposed: only the first takes effect.
      this.markApplied(index);
      throw new WriteConflict('the request was already applied');
    }
    const effects = p.commands.map(effectOf);
    const stale = this.staleRecord(effects);
    if (stale) {
      this.markApplied(index);
      throw new WriteConflict(`${stale} changed since the write was prepared`);
    }
    const run = this.db.transaction(() => {
      for (const e of effects) this.applyEffect(e, changes);
      if (p.request) {
        this.stmts.putRequest.run(p.request.key, JSON.stringify(p.request.response), changes.index);
      }
      this.stmts.setMeta.run('applied_index', String(changes.index));
      // Inside the transaction: a trim that fails (a full disk) must not fail a committed write.
      if (changes.index % 1000 === 0) this.stmts.trimRequests.run(changes.index - 100_000);
    });
    // Memory follows the database: a failed transaction leaves both as they were.
    const undo = this.snapshotFor(effects);
    try {
      run();
    } catch (e) {
      undo();
      if (!isDeterministicFailure(e)) throw e;
      this.markApplied(index);
      throw new WriteConflict(String((e as Error).message));
    }
    this.index = changes.index;
    this.emit('change', changes);
    return changes;
  }

  /** Consumes an index that carries no command (a new leader's empty entry). */
  markApplied(index: number): void {
    this.checkIndex(index);
    this.stmts.setMeta.run('applied_index', String(index));
    this.index = index;
  }

  /** Records a membership change at `index`: a manager added (with its address) or removed. */
  applyMembership(index: number, change: { op: 'upsert' | 'remove'; member: MemberRecord }): void {
    const others = this.memberList.filter((m) => m.id !== change.member.id);
    const next = change.op === 'upsert' ? [...others, change.member] : others;
    next.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.resetMembers(index, next);
  }

  members(): MemberRecord[] {
    return this.memberList;
  }

  /** Replaces the member list at `index` (a cluster rebuilt around one manager). */
  resetMembers(index: number, members: MemberRecord[]): void {
    this.checkIndex(index);
    this.db.transaction(() => {
      this.stmts.setMeta.run('members', JSON.stringify(members));
      this.stmts.setMeta.run('applied_index', String(index));
    })();
    this.memberList = members;
    this.index = index;
    this.emit('members', members);
  }

  /** The state as one JSON document; kinds added later appear only when they hold records. */
  dump(): string {
    const requests = this.db
      .prepare('SELECT key, response, applied_index AS appliedIndex FROM requests')
      .all() as StoreDump['requests'];
    const d = {
      v: 1,
      index: this.index,
      cluster: this.clusterRec ?? null,
      members: this.memberList,
      ...Object.fromEntries(
        KIND_NAMES.filter((k) => !(OPTIONAL_IN_DUMP.has(k) && this.tables[k].size === 0)).map(
          (k) => [k, [...this.tables[k].values()]],
        ),
      ),
      requests,
    } as StoreDump;
    return JSON.stringify(d);
  }

  /** Replaces everything with a snapshot's data (from dump()), in one transaction. */
  restore(data: string): void {
    const d = dumpSchema.parse(JSON.parse(data)) as unknown as StoreDump;
    const s = this.stmts;
    this.db.transaction(() => {
      for (const t of [...KIND_NAMES, 'requests', 'meta']) this.db.exec(`DELETE FROM ${t}`);
      s.setMeta.run('applied_index', String(d.index));
      s.setMeta.run('members', JSON.stringify(d.members));
      if (d.cluster) s.setMeta.run('cluster', JSON.stringify(d.cluster));
      for (const k of KIND_NAMES) this.table(k).writeRows(d[k]);
      for (const r of d.requests) s.putRequest.run(r.key, r.response, r.appliedIndex);
    })();
    this.clear();
    this.load();
    const nodes = this.tables.nodes;
    this.emit('change', {
      index: this.index,
      nodes: nodes.ids(),
      services: this.tables.services.ids(),
      tasks: this.tables.tasks.ids(),
      assignmentNodes: nodes.ids(),
      networks: this.tables.networks.ids(),
      stacks: this.tables.stacks.ids(),
      images: this.tables.images.ids(),
      releases: this.tables.releases.ids(),
      upgrades: this.tables.upgrades.ids(),
      events: this.tables.events.ids(),
      cluster: true,
    } satisfies ChangeSet);
    this.emit('members', this.memberList);
  }

  onChange(listener: (c: ChangeSet) => void): () => void {
    this.on('change', listener);
    return () => this.off('change', listener);
  }

  cluster(): ClusterRecord | undefined {
    return this.clusterRec;
  }
  node(id: string): NodeRecord | undefined {
    return this.tables.nodes.get(id);
  }
  nodes(): Iterable<NodeRecord> {
    return this.tables.nodes.values();
  }
  service(id: string): ServiceRecord | undefined {
    return this.tables.services.get(id);
  }
  serviceByName(name: string): ServiceRecord | undefined {
    for (const s of this.tables.services.values()) if (s.spec.name === name) return s;
    return undefined;
  }
  services(): Iterable<ServiceRecord> {
    return this.tables.services.values();
  }
  task(id: string): TaskRecord | undefined {
    return this.tables.tasks.get(id);
  }
  tasks(): Iterable<TaskRecord> {
    return this.tables.tasks.values();
  }
  tasksOfService(serviceId: string): TaskRecord[] {
    return this.tables.tasks.lookup('service', serviceId);
  }
  tasksOfNode(nodeId: string): TaskRecord[] {
    return this.tables.tasks.lookup('node', nodeId);
  }
  requestResponse(key: string): unknown {
    const row = this.stmts.getRequest.get(key) as { response: string } | undefined;
    return row ? (JSON.parse(row.response) as unknown) : undefined;
  }

  integrityCheck(): string {
    return String(this.db.pragma('integrity_check', { simple: true }));
  }

  close(): void {
    this.db.close();
  }

  private checkIndex(index: number): void {
    if (index <= this.index) {
      throw new Error(`invariant: index ${index} applied after ${this.index}`);
    }
  }

  /** A kind's table with its record type erased, for code that handles every kind alike. */
  private table(kind: KindName): Table<StoredRecord> {
    return this.tables[kind] as unknown as Table<StoredRecord>;
  }

  /** The first record a put was computed from that has been written since, or null. */
  private staleRecord(effects: Effect[]): string | null {
    for (const e of effects) {
      if (e.kind === 'cluster' || !('put' in e)) continue;
      const name = kindSpec(e.kind).versioned;
      if (!name) continue;
      const table = this.table(e.kind);
      for (const r of e.put as StoredRecord[]) {
        if (r.version !== undefined && r.version !== table.get(r.id)?.version) return name(r);
      }
    }
    return null;
  }

  private clear(): void {
    this.index = 0;
    this.clusterRec = undefined;
    this.memberList = [];
    for (const k of KIND_NAMES) this.tables[k].clear();
  }

  private load(): void {
    const meta = this.db.prepare('SELECT key, value FROM meta').all() as {
      key: string;
      value: string;
    }[];
    for (const { key, value } of meta) {
      if (key === 'applied_index') this.index = Number(value);
      if (key === 'cluster') this.clusterRec = JSON.parse(value) as ClusterRecord;
      if (key === 'members') this.memberList = JSON.parse(value) as MemberRecord[];
    }
    for (const k of KIND_NAMES) this.tables[k].load();
  }

  /** Writes one command's effect inside the proposal's transaction and notes what changed. */
  private applyEffect(e: Effect, ch: ChangeSet): void {
    if (e.kind === 'cluster') {
      const next = e.next(this.clusterRec);
      this.stmts.setMeta.run('cluster', JSON.stringify(next));
      this.clusterRec = next;
      ch.cluster = true;
      return;
    }
    const table = this.table(e.kind);
    const spec = table.spec;
    if ('put' in e) {
      for (const put of e.put as StoredRecord[]) {
        const r = spec.versioned ? { ...put, version: ch.index } : put;
        const old = table.get(r.id);
        table.put(r);
        spec.touch(ch, r.id, old, r);
      }
      return;
    }
    for (const id of e.remove) {
      const old = table.get(id);
      table.remove(id);
      spec.touch(ch, id, old, undefined);
    }
  }

  /** Remembers the in-memory records a proposal touches, to restore them if SQLite refuses. */
  private snapshotFor(effects: Effect[]): () => void {
    const cluster = this.clusterRec;
    const saved = new Map<KindName, Map<string, StoredRecord | undefined>>();
    for (const e of effects) {
      if (e.kind === 'cluster') continue;
      let m = saved.get(e.kind);
      if (!m) saved.set(e.kind, (m = new Map<string, StoredRecord | undefined>()));
      this.table(e.kind).save(idsOf(e), m);
    }
    return () => {
      this.clusterRec = cluster;
      for (const [kind, m] of saved) this.table(kind).undo(m);
    };
  }
}
