// The cluster state machine on SQLite: commands apply in one transaction with the applied index.
import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import type { NodeRecord, ServiceRecord, TaskRecord } from '../../shared/spec.js';
import {
  emptyChangeSet,
  type ChangeSet,
  type ClusterRecord,
  type Command,
  type ConfigRecord,
  type MemberRecord,
  type Proposal,
  type SecretRecord,
} from './commands.js';
import { WriteConflict, isDeterministicFailure } from './conflict.js';
import { dumpSchema, type StoreDump } from './dump.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS services (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, service_id TEXT NOT NULL, node_id TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_service ON tasks(service_id);
CREATE TABLE IF NOT EXISTS secrets (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS configs (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, response TEXT NOT NULL, applied_index INTEGER NOT NULL);
`;

/** Readable view of the state; controllers and API handlers only read through this. */
export interface StoreView {
  readonly appliedIndex: number;
  cluster(): ClusterRecord | undefined;
  node(id: string): NodeRecord | undefined;
  nodes(): Iterable<NodeRecord>;
  service(id: string): ServiceRecord | undefined;
  serviceByName(name: string): ServiceRecord | undefined;
  services(): Iterable<ServiceRecord>;
  task(id: string): TaskRecord | undefined;
  tasks(): Iterable<TaskRecord>;
  tasksOfService(serviceId: string): TaskRecord[];
  tasksOfNode(nodeId: string): TaskRecord[];
  requestResponse(key: string): unknown;
  /** The managers of the Raft group and where each listens. */
  members(): MemberRecord[];
  secret(id: string): SecretRecord | undefined;
  secretByName(name: string): SecretRecord | undefined;
  secrets(): Iterable<SecretRecord>;
  config(id: string): ConfigRecord | undefined;
  configByName(name: string): ConfigRecord | undefined;
  configs(): Iterable<ConfigRecord>;
}

export class Store extends EventEmitter implements StoreView {
  private readonly db: Database.Database;
  private index = 0;
  private clusterRec: ClusterRecord | undefined;
  private memberList: MemberRecord[] = [];
  private readonly nodeMap = new Map<string, NodeRecord>();
  private readonly serviceMap = new Map<string, ServiceRecord>();
  private readonly taskMap = new Map<string, TaskRecord>();
  private readonly tasksBySvc = new Map<string, Set<string>>();
  private readonly tasksByNode = new Map<string, Set<string>>();
  private readonly secretMap = new Map<string, SecretRecord>();
  private readonly configMap = new Map<string, ConfigRecord>();
  private readonly stmts;

  constructor(file: string) {
    super();
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL: the Raft log is fsynced before a write is acknowledged, and whatever the last
    // transactions here lose in a power cut is applied again from it (or from its snapshot).
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    // Upserts on the id only: a record taking another's unique name must fail (a constraint
    // error, refused alike on every manager), never silently delete the other row.
    this.stmts = {
      setMeta: this.db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)'),
      putNode: this.db.prepare('INSERT OR REPLACE INTO nodes(id, data) VALUES (?, ?)'),
      delNode: this.db.prepare('DELETE FROM nodes WHERE id = ?'),
      putService: this.db.prepare(
        'INSERT INTO services(id, name, data) VALUES (?, ?, ?) ' +
          'ON CONFLICT(id) DO UPDATE SET name = excluded.name, data = excluded.data',
      ),
      delService: this.db.prepare('DELETE FROM services WHERE id = ?'),
      putTask: this.db.prepare(
        'INSERT OR REPLACE INTO tasks(id, service_id, node_id, data) VALUES (?, ?, ?, ?)',
      ),
      delTask: this.db.prepare('DELETE FROM tasks WHERE id = ?'),
      putRequest: this.db.prepare(
        'INSERT OR IGNORE INTO requests(key, response, applied_index) VALUES (?, ?, ?)',
      ),
      getRequest: this.db.prepare('SELECT response FROM requests WHERE key = ?'),
      putSecret: this.db.prepare(
        'INSERT INTO secrets(id, name, data) VALUES (?, ?, ?) ' +
          'ON CONFLICT(id) DO UPDATE SET name = excluded.name, data = excluded.data',
      ),
      delSecret: this.db.prepare('DELETE FROM secrets WHERE id = ?'),
      putConfig: this.db.prepare(
        'INSERT INTO configs(id, name, data) VALUES (?, ?, ?) ' +
          'ON CONFLICT(id) DO UPDATE SET name = excluded.name, data = excluded.data',
      ),
      delConfig: this.db.prepare('DELETE FROM configs WHERE id = ?'),
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
    const stale = this.staleRecord(p.commands);
    if (stale) {
      this.markApplied(index);
      throw new WriteConflict(`${stale} changed since the write was prepared`);
    }
    const run = this.db.transaction(() => {
      for (const c of p.commands) this.applyOne(c, changes);
      if (p.request) {
        this.stmts.putRequest.run(p.request.key, JSON.stringify(p.request.response), changes.index);
      }
      this.stmts.setMeta.run('applied_index', String(changes.index));
      // Inside the transaction: a trim that fails (a full disk) must not fail a committed write.
      if (changes.index % 1000 === 0) this.stmts.trimRequests.run(changes.index - 100_000);
    });
    // Memory follows the database: a failed transaction leaves both as they were.
    const undo = this.snapshotFor(p.commands);
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
    this.checkIndex(index);
    const others = this.memberList.filter((m) => m.id !== change.member.id);
    const next = change.op === 'upsert' ? [...others, change.member] : others;
    next.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.db.transaction(() => {
      this.stmts.setMeta.run('members', JSON.stringify(next));
      this.stmts.setMeta.run('applied_index', String(index));
    })();
    this.memberList = next;
    this.index = index;
    this.emit('members', next);
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

  /** Everything the store holds, as one JSON text: the data of a Raft snapshot. */
  dump(): string {
    const requests = this.db
      .prepare('SELECT key, response, applied_index AS appliedIndex FROM requests')
      .all() as StoreDump['requests'];
    const d: StoreDump = {
      v: 1,
      index: this.index,
      cluster: this.clusterRec ?? null,
      members: this.memberList,
      nodes: [...this.nodeMap.values()],
      services: [...this.serviceMap.values()],
      tasks: [...this.taskMap.values()],
      secrets: [...this.secretMap.values()],
      configs: [...this.configMap.values()],
      requests,
    };
    return JSON.stringify(d);
  }

  /** Replaces everything with a snapshot's data (from dump()), in one transaction. */
  restore(data: string): void {
    const d = dumpSchema.parse(JSON.parse(data)) as unknown as StoreDump;
    const s = this.stmts;
    this.db.transaction(() => {
      for (const t of ['nodes', 'services', 'tasks', 'secrets', 'configs', 'requests', 'meta'])
        this.db.exec(`DELETE FROM ${t}`);
      s.setMeta.run('applied_index', String(d.index));
      s.setMeta.run('members', JSON.stringify(d.members));
      if (d.cluster) s.setMeta.run('cluster', JSON.stringify(d.cluster));
      for (const n of d.nodes) s.putNode.run(n.id, JSON.stringify(n));
      for (const v of d.services) s.putService.run(v.id, v.spec.name, JSON.stringify(v));
      for (const t of d.tasks) s.putTask.run(t.id, t.serviceId, t.nodeId, JSON.stringify(t));
      for (const x of d.secrets) s.putSecret.run(x.id, x.name, JSON.stringify(x));
      for (const c of d.configs) s.putConfig.run(c.id, c.name, JSON.stringify(c));
      for (const r of d.requests) s.putRequest.run(r.key, r.response, r.appliedIndex);
    })();
    this.clear();
    this.load();
    const all = <T extends { id: string }>(xs: Iterable<T>): Set<string> =>
      new Set([...xs].map((x) => x.id));
    this.emit('change', {
      index: this.index,
      nodes: all(this.nodeMap.values()),
      services: all(this.serviceMap.values()),
      tasks: all(this.taskMap.values()),
      assignmentNodes: all(this.nodeMap.values()),
      cluster: true,
    } satisfies ChangeSet);
    this.emit('members', this.memberList);
  }

  cluster(): ClusterRecord | undefined {
    return this.clusterRec;
  }
  node(id: string): NodeRecord | undefined {
    return this.nodeMap.get(id);
  }
  nodes(): Iterable<NodeRecord> {
    return this.nodeMap.values();
  }
  service(id: string): ServiceRecord | undefined {
    return this.serviceMap.get(id);
  }
  serviceByName(name: string): ServiceRecord | undefined {
    for (const s of this.serviceMap.values()) if (s.spec.name === name) return s;
    return undefined;
  }
  services(): Iterable<ServiceRecord> {
    return this.serviceMap.values();
  }
  task(id: string): TaskRecord | undefined {
    return this.taskMap.get(id);
  }
  tasks(): Iterable<TaskRecord> {
    return this.taskMap.values();
  }
  tasksOfService(serviceId: string): TaskRecord[] {
    return this.collect(this.tasksBySvc.get(serviceId));
  }
  tasksOfNode(nodeId: string): TaskRecord[] {
    return this.collect(this.tasksByNode.get(nodeId));
  }
  requestResponse(key: string): unknown {
    const row = this.stmts.getRequest.get(key) as { response: string } | undefined;
    return row ? (JSON.parse(row.response) as unknown) : undefined;
  }

  secret(id: string): SecretRecord | undefined {
    return this.secretMap.get(id);
  }
  secretByName(name: string): SecretRecord | undefined {
    for (const s of this.secretMap.values()) if (s.name === name) return s;
    return undefined;
  }
  secrets(): Iterable<SecretRecord> {
    return this.secretMap.values();
  }
  config(id: string): ConfigRecord | undefined {
    return this.configMap.get(id);
  }
  configByName(name: string): ConfigRecord | undefined {
    for (const c of this.configMap.values()) if (c.name === name) return c;
    return undefined;
  }
  configs(): Iterable<ConfigRecord> {
    return this.configMap.values();
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

  /** The first record a put was computed from that has been written since, or null. */
  private staleRecord(commands: Command[]): string | null {
    const moved = (cur: { version?: number } | undefined, next: { version?: number }): boolean =>
      next.version !== undefined && next.version !== cur?.version;
    for (const c of commands) {
      if (c.type === 'node.put' && moved(this.nodeMap.get(c.node.id), c.node))
        return `node ${c.node.id}`;
      if (c.type === 'service.put' && moved(this.serviceMap.get(c.service.id), c.service))
        return `service ${c.service.spec.name}`;
      if (c.type === 'tasks.put') {
        for (const t of c.tasks) if (moved(this.taskMap.get(t.id), t)) return `task ${t.id}`;
      }
    }
    return null;
  }

  private clear(): void {
    this.index = 0;
    this.clusterRec = undefined;
    this.memberList = [];
    for (const m of [this.nodeMap, this.serviceMap, this.taskMap, this.secretMap, this.configMap])
      m.clear();
    this.tasksBySvc.clear();
    this.tasksByNode.clear();
  }

  private collect(ids: Set<string> | undefined): TaskRecord[] {
    const out: TaskRecord[] = [];
    for (const id of ids ?? []) {
      const t = this.taskMap.get(id);
      if (t) out.push(t);
    }
    return out;
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
    for (const row of this.db.prepare('SELECT data FROM nodes').all() as { data: string }[]) {
      const n = JSON.parse(row.data) as NodeRecord;
      this.nodeMap.set(n.id, n);
    }
    for (const row of this.db.prepare('SELECT data FROM services').all() as { data: string }[]) {
      const s = JSON.parse(row.data) as ServiceRecord;
      this.serviceMap.set(s.id, s);
    }
    for (const row of this.db.prepare('SELECT data FROM tasks').all() as { data: string }[]) {
      this.indexTask(JSON.parse(row.data) as TaskRecord);
    }
    for (const row of this.db.prepare('SELECT data FROM secrets').all() as { data: string }[]) {
      const s = JSON.parse(row.data) as SecretRecord;
      this.secretMap.set(s.id, s);
    }
    for (const row of this.db.prepare('SELECT data FROM configs').all() as { data: string }[]) {
      const c = JSON.parse(row.data) as ConfigRecord;
      this.configMap.set(c.id, c);
    }
  }

  private applyOne(c: Command, ch: ChangeSet): void {
    switch (c.type) {
      case 'cluster.init':
        this.stmts.setMeta.run('cluster', JSON.stringify(c.cluster));
        this.clusterRec = c.cluster;
        ch.cluster = true;
        return;
      case 'cluster.tokens': {
        const cur = this.clusterRec;
        if (!cur) throw new Error('invariant: cluster.tokens before cluster.init');
        const next = { ...cur, workerToken: c.workerToken, managerToken: c.managerToken };
        this.stmts.setMeta.run('cluster', JSON.stringify(next));
        this.clusterRec = next;
        ch.cluster = true;
        return;
      }
      case 'node.put': {
        const node = { ...c.node, version: ch.index };
        this.stmts.putNode.run(node.id, JSON.stringify(node));
        this.nodeMap.set(node.id, node);
        ch.nodes.add(node.id);
        return;
      }
      case 'node.remove':
        this.stmts.delNode.run(c.id);
        this.nodeMap.delete(c.id);
        ch.nodes.add(c.id);
        return;
      case 'service.put': {
        const svc = { ...c.service, version: ch.index };
        this.stmts.putService.run(svc.id, svc.spec.name, JSON.stringify(svc));
        this.serviceMap.set(svc.id, svc);
        ch.services.add(svc.id);
        return;
      }
      case 'service.remove':
        this.stmts.delService.run(c.id);
        this.serviceMap.delete(c.id);
        ch.services.add(c.id);
        return;
      case 'tasks.put':
        for (const put of c.tasks) {
          const t = { ...put, version: ch.index };
          const old = this.taskMap.get(t.id);
          if (old?.nodeId) ch.assignmentNodes.add(old.nodeId);
          if (t.nodeId) ch.assignmentNodes.add(t.nodeId);
          this.stmts.putTask.run(t.id, t.serviceId, t.nodeId, JSON.stringify(t));
          this.unindexTask(t.id);
          this.indexTask(t);
          ch.tasks.add(t.id);
          ch.services.add(t.serviceId);
        }
        return;
      case 'tasks.delete':
        for (const id of c.ids) {
          const old = this.taskMap.get(id);
          if (!old) continue;
          if (old.nodeId) ch.assignmentNodes.add(old.nodeId);
          this.stmts.delTask.run(id);
          this.unindexTask(id);
          ch.tasks.add(id);
          ch.services.add(old.serviceId);
        }
        return;
      case 'secret.put':
        this.stmts.putSecret.run(c.secret.id, c.secret.name, JSON.stringify(c.secret));
        this.secretMap.set(c.secret.id, c.secret);
        return;
      case 'secret.remove':
        this.stmts.delSecret.run(c.id);
        this.secretMap.delete(c.id);
        return;
      case 'config.put':
        this.stmts.putConfig.run(c.config.id, c.config.name, JSON.stringify(c.config));
        this.configMap.set(c.config.id, c.config);
        return;
      case 'config.remove':
        this.stmts.delConfig.run(c.id);
        this.configMap.delete(c.id);
        return;
    }
  }

  private indexTask(t: TaskRecord): void {
    this.taskMap.set(t.id, t);
    addTo(this.tasksBySvc, t.serviceId, t.id);
    if (t.nodeId) addTo(this.tasksByNode, t.nodeId, t.id);
  }

  private unindexTask(id: string): void {
    const old = this.taskMap.get(id);
    if (!old) return;
    this.taskMap.delete(id);
    this.tasksBySvc.get(old.serviceId)?.delete(id);
    if (old.nodeId) this.tasksByNode.get(old.nodeId)?.delete(id);
  }

  /** Remembers the in-memory records a proposal touches, to restore them if SQLite refuses. */
  private snapshotFor(commands: Command[]): () => void {
    const cluster = this.clusterRec;
    const nodes = new Map<string, NodeRecord | undefined>();
    const services = new Map<string, ServiceRecord | undefined>();
    const tasks = new Map<string, TaskRecord | undefined>();
    const secrets = new Map<string, SecretRecord | undefined>();
    const configs = new Map<string, ConfigRecord | undefined>();
    for (const c of commands) {
      if (c.type === 'secret.put') secrets.set(c.secret.id, this.secretMap.get(c.secret.id));
      if (c.type === 'secret.remove') secrets.set(c.id, this.secretMap.get(c.id));
      if (c.type === 'config.put') configs.set(c.config.id, this.configMap.get(c.config.id));
      if (c.type === 'config.remove') configs.set(c.id, this.configMap.get(c.id));
      if (c.type === 'node.put') nodes.set(c.node.id, this.nodeMap.get(c.node.id));
      if (c.type === 'node.remove') nodes.set(c.id, this.nodeMap.get(c.id));
      if (c.type === 'service.put') services.set(c.service.id, this.serviceMap.get(c.service.id));
      if (c.type === 'service.remove') services.set(c.id, this.serviceMap.get(c.id));
      if (c.type === 'tasks.put') for (const t of c.tasks) tasks.set(t.id, this.taskMap.get(t.id));
      if (c.type === 'tasks.delete') for (const id of c.ids) tasks.set(id, this.taskMap.get(id));
    }
    return () => {
      this.clusterRec = cluster;
      for (const [id, n] of nodes) {
        if (n) this.nodeMap.set(id, n);
        else this.nodeMap.delete(id);
      }
      for (const [id, s] of services) {
        if (s) this.serviceMap.set(id, s);
        else this.serviceMap.delete(id);
      }
      for (const [id, t] of tasks) {
        this.unindexTask(id);
        if (t) this.indexTask(t);
      }
      restore(this.secretMap, secrets);
      restore(this.configMap, configs);
    };
  }
}

function restore<T>(m: Map<string, T>, saved: Map<string, T | undefined>): void {
  for (const [id, v] of saved) {
    if (v) m.set(id, v);
    else m.delete(id);
  }
}

function addTo(m: Map<string, Set<string>>, key: string, value: string): void {
  let s = m.get(key);
  if (!s) m.set(key, (s = new Set()));
  s.add(value);
}
