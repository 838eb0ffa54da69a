// Three RaftHosts in one process on real SQLite files, linked by an in-memory transport: replication, conflicts, failover, snapshots, restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareRaftLog, type LogStart } from '../../manager/raft/bootstrap.js';
import type { Message } from '../../manager/raft/core/index.js';
import { encodeMemberContext } from '../../manager/raft/entries.js';
import { NotLeader, RaftHost, type PeerTransport } from '../../manager/raft/host.js';
import { RaftStorage } from '../../manager/raft/storage.js';
import type { Proposal } from '../../manager/store/commands.js';
import { WriteConflict, isWriteConflict, retryOnConflict } from '../../manager/store/conflict.js';
import { Store } from '../../manager/store/store.js';
import { FleetError } from '../../shared/errors.js';
import { memoryLogger, silentLogger, type Logger } from '../../shared/log.js';
import { serviceSpecSchema, type NodeRecord, type ServiceRecord } from '../../shared/spec.js';
import { nodeRecord } from '../helpers/records.js';
import { waitFor } from '../helpers/wait.js';

const TIMING = { tickMs: 10, electionTicks: 10, heartbeatTicks: 1 };
const IDS = ['a', 'b', 'c'] as const;
const addressOf = (id: string): string => `${id}.managers.test:4883`;

// ---- an in-memory network between the hosts of one process

/**
 * Delivers each host's messages to the addressed host on a later turn of the event loop, as a
 * wire would (serialized, so no object is shared). A host that is cut off neither sends nor
 * receives; the cut is checked again at delivery, so nothing in flight crosses it either.
 */
class Hub {
  private readonly hosts = new Map<string, RaftHost>();
  private readonly cut = new Set<string>();
  /** Messages handed to the hub, by type: to show what travelled. */
  readonly sent = new Map<string, number>();

  attach(id: string, host: RaftHost): void {
    this.hosts.set(id, host);
  }

  detach(id: string): void {
    this.hosts.delete(id);
  }

  isolate(id: string): void {
    this.cut.add(id);
  }

  heal(id: string): void {
    this.cut.delete(id);
  }

  linked(from: string, to: string): boolean {
    return (
      from !== to &&
      !this.cut.has(from) &&
      !this.cut.has(to) &&
      this.hosts.has(from) &&
      this.hosts.has(to)
    );
  }

  transportFor(self: string): PeerTransport {
    return {
      send: (msgs) => this.send(self, msgs),
      setPeers: () => undefined,
      connected: (id) => this.linked(self, id),
    };
  }

  private send(from: string, msgs: Message[]): void {
    const byTarget = new Map<string, Message[]>();
    for (const m of msgs) {
      this.sent.set(m.type, (this.sent.get(m.type) ?? 0) + 1);
      const batch = byTarget.get(m.to) ?? [];
      batch.push(JSON.parse(JSON.stringify(m)) as Message);
      byTarget.set(m.to, batch);
    }
    for (const [to, batch] of byTarget) {
      setImmediate(() => {
        const ok = this.linked(from, to);
        const target = this.hosts.get(to);
        if (ok && target) target.receive(batch);
        // What the real transport does once a snapshot was handed over (or could not be).
        for (const m of batch) if (m.type === 'snap') this.hosts.get(from)?.snapshotSent(to, ok);
      });
    }
  }
}

// ---- managers on temp files

interface Member {
  id: string;
  dir: string;
  store: Store;
  storage: RaftStorage;
  host: RaftHost;
  start: LogStart;
  running: boolean;
}

interface HostTuning {
  snapshotEvery?: number;
  retainEntries?: number;
  commitTimeoutMs?: number;
}

class Cluster {
  readonly hub = new Hub();
  readonly members = new Map<string, Member>();
  private readonly dirs: string[] = [];

  constructor(private readonly tuning: HostTuning = {}) {}

  /** Opens (or reopens) a manager's files and starts its host, as Manager.start does. */
  open(id: string, opts: { dir?: string; joining?: boolean; logger?: Logger } = {}): Member {
    const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), `fleet-raft-host-${id}-`));
    if (!opts.dir) this.dirs.push(dir);
    const store = new Store(path.join(dir, 'state.db'));
    const storage = new RaftStorage(path.join(dir, 'raft.db'));
    const start = prepareRaftLog({
      storage,
      store,
      id,
      address: addressOf(id),
      logger: silentLogger,
      joining: opts.joining === true,
    });
    const host = new RaftHost({
      id,
      store,
      storage,
      transport: this.hub.transportFor(id),
      logger: opts.logger ?? silentLogger,
      timing: TIMING,
      commitTimeoutMs: this.tuning.commitTimeoutMs ?? 5_000,
      ...(this.tuning.snapshotEvery !== undefined
        ? { snapshotEvery: this.tuning.snapshotEvery }
        : {}),
      ...(this.tuning.retainEntries !== undefined
        ? { retainEntries: this.tuning.retainEntries }
        : {}),
      ...(opts.joining ? { initialPeers: [{ id: 'a', address: addressOf('a') }] } : {}),
    });
    this.hub.attach(id, host);
    host.start();
    const m: Member = { id, dir, store, storage, host, start, running: true };
    this.members.set(id, m);
    return m;
  }

  /** Stops a manager and closes its files, as Manager.stop does. */
  stop(id: string): Member {
    const m = this.member(id);
    if (!m.running) return m;
    m.running = false;
    this.hub.detach(id);
    m.host.stop();
    m.host.close();
    m.store.close();
    return m;
  }

  member(id: string): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  running(): Member[] {
    return [...this.members.values()].filter((m) => m.running);
  }

  /** The one running host that leads with everything before its term applied. */
  async leader(what = 'a leader', among = this.running()): Promise<Member> {
    return waitFor(
      () => {
        const leaders = among.filter((m) => m.host.isLeading);
        return leaders.length === 1 ? leaders[0] : undefined;
      },
      { what, timeoutMs: 5_000, intervalMs: 10 },
    );
  }

  /** Every running store at the same applied index with the same records. */
  async converged(what: string, among = this.running()): Promise<void> {
    await waitFor(
      () => {
        const [first, ...rest] = among.map((m) => stateOf(m.store));
        return rest.every((s) => sameState(s, first));
      },
      { what, timeoutMs: 5_000, intervalMs: 10 },
    );
    const [first, ...rest] = among.map((m) => stateOf(m.store));
    for (const s of rest) assert.deepEqual(s, first);
  }

  async close(): Promise<void> {
    for (const id of this.members.keys()) this.stop(id);
    // Let deliveries already queued on the event loop drain into the stopped hosts.
    await new Promise((resolve) => setImmediate(resolve));
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** A's cluster as real managers build it: A bootstraps, B and C join as learners, then vote. */
async function threeManagers(tuning: HostTuning = {}, loggers: Record<string, Logger> = {}) {
  const c = new Cluster(tuning);
  try {
    const withLogger = (id: string): { logger?: Logger } => {
      const logger = loggers[id];
      return logger ? { logger } : {};
    };
    const a = c.open('a', withLogger('a'));
    assert.equal(a.start, 'new-cluster');
    await waitFor(() => a.host.isLeading, { what: 'a to lead alone', timeoutMs: 5_000 });
    for (const id of ['b', 'c']) {
      const m = c.open(id, { joining: true, ...withLogger(id) });
      assert.equal(m.start, 'joining');
      const context = encodeMemberContext(addressOf(id));
      await a.host.changeMembership({ op: 'add-learner', id, context });
      await waitFor(() => m.store.appliedIndex >= a.store.appliedIndex, {
        what: `learner ${id} to catch up`,
        timeoutMs: 5_000,
        intervalMs: 10,
      });
      await a.host.changeMembership({ op: 'add-voter', id });
    }
    assert.deepEqual(a.host.status().conf, { voters: ['a', 'b', 'c'], learners: [] });
    await c.converged('the three stores after the membership changes');
    for (const m of c.running()) {
      assert.deepEqual(
        m.store.members(),
        IDS.map((id) => ({ id, address: addressOf(id) })),
        `members as ${m.id} sees them`,
      );
    }
    return c;
  } catch (e) {
    await c.close();
    throw e;
  }
}

async function withCluster(
  tuning: HostTuning,
  body: (c: Cluster) => Promise<void>,
  loggers: Record<string, Logger> = {},
): Promise<void> {
  const c = await threeManagers(tuning, loggers);
  try {
    await body(c);
  } finally {
    await c.close();
  }
}

// ---- records

interface State {
  index: number;
  members: unknown;
  nodes: NodeRecord[];
  services: ServiceRecord[];
}

const byId = <T extends { id: string }>(xs: Iterable<T>): T[] =>
  [...xs].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));

function stateOf(s: Store): State {
  return {
    index: s.appliedIndex,
    members: s.members(),
    nodes: byId(s.nodes()),
    services: byId(s.services()),
  };
}

function sameState(x: State, y: State | undefined): boolean {
  return y !== undefined && JSON.stringify(x) === JSON.stringify(y);
}

const putNode = (node: NodeRecord): Proposal => ({ commands: [{ type: 'node.put', node }] });

const newService = (id: string, name: string): ServiceRecord => ({
  id,
  spec: serviceSpecSchema.parse({ name, task: { image: 'nginx' } }),
  specVersion: 1,
  createdAt: 0,
  updatedAt: 0,
});

function followers(c: Cluster, leader: Member): Member[] {
  return c.running().filter((m) => m.id !== leader.id);
}

function hasCode(e: unknown, ...codes: string[]): boolean {
  return e instanceof FleetError && codes.includes(e.code);
}

// ---- tests

test('a proposal on the leader resolves once applied, and every store holds it at the same index', async () => {
  await withCluster({}, async (c) => {
    const leader = await c.leader();
    assert.equal(leader.id, 'a');
    const before = leader.store.appliedIndex;
    const changes = await leader.host.propose(putNode(nodeRecord('n1', { labels: { x: '1' } })));
    assert.equal(changes.index, before + 1);
    assert.deepEqual([...changes.nodes], ['n1']);
    // Resolved means applied here: the record is readable at once.
    assert.equal(leader.store.appliedIndex, changes.index);
    assert.equal(leader.store.node('n1')?.version, changes.index);
    assert.deepEqual(leader.store.node('n1')?.labels, { x: '1' });

    const many = await Promise.all(
      Array.from({ length: 10 }, (_, i) => leader.host.propose(putNode(nodeRecord(`m${i}`)))),
    );
    const indexes = many.map((ch) => ch.index);
    assert.deepEqual(
      indexes,
      indexes.map((_, i) => changes.index + 1 + i),
      'concurrent proposals take consecutive indexes in order',
    );
    await c.converged('every store to hold the eleven records');
    for (const m of c.running()) {
      assert.equal(m.store.appliedIndex, changes.index + 10, `applied index on ${m.id}`);
      assert.equal([...m.store.nodes()].length, 11, `records on ${m.id}`);
      assert.equal(m.store.node('n1')?.version, changes.index, `n1's version on ${m.id}`);
    }
  });
});

test('a write computed from an older version is refused alike everywhere; retryOnConflict re-reads and succeeds', async () => {
  await withCluster({}, async (c) => {
    const leader = await c.leader();
    await leader.host.propose(putNode(nodeRecord('n1', { labels: { step: 'first' } })));
    const stale = leader.store.node('n1');
    assert.ok(stale?.version !== undefined);
    const second = await leader.host.propose(putNode({ ...stale, labels: { step: 'second' } }));
    assert.ok(second.index > stale.version);
    await c.converged('the second write everywhere');

    // Based on the first version: refused on the leader, whose proposer is told so.
    const indexBefore = leader.store.appliedIndex;
    await assert.rejects(
      leader.host.propose(putNode({ ...stale, labels: { step: 'stale' } })),
      (e: unknown) => e instanceof WriteConflict && /node n1/.test(e.message),
    );
    assert.equal(
      leader.store.appliedIndex,
      indexBefore + 1,
      'the refused write consumed its index',
    );
    await c.converged('the refused write to consume its index everywhere');
    for (const m of c.running()) {
      assert.equal(m.store.appliedIndex, indexBefore + 1, `applied index on ${m.id}`);
      assert.deepEqual(m.store.node('n1')?.labels, { step: 'second' }, `n1 on ${m.id}`);
      assert.equal(m.store.node('n1')?.version, second.index, `n1's version on ${m.id}`);
    }

    // The usual read-compute-propose loop: the first attempt uses the stale copy, the next re-reads.
    let attempts = 0;
    const done = await retryOnConflict(async () => {
      attempts++;
      const base = attempts === 1 ? stale : leader.store.node('n1');
      assert.ok(base);
      return leader.host.propose(putNode({ ...base, labels: { step: 'retried' } }));
    });
    assert.equal(attempts, 2);
    await c.converged('the retried write everywhere');
    for (const m of c.running()) {
      assert.deepEqual(m.store.node('n1')?.labels, { step: 'retried' }, `n1 on ${m.id}`);
      assert.equal(m.store.node('n1')?.version, done.index, `n1's version on ${m.id}`);
    }

    // A conflict that persists is handed back after the attempts run out.
    let tries = 0;
    await assert.rejects(
      retryOnConflict(() => {
        tries++;
        return leader.host.propose(putNode({ ...stale, labels: { step: 'never' } }));
      }, 3),
      (e: unknown) => isWriteConflict(e),
    );
    assert.equal(tries, 3);
    await c.converged('the three refused writes everywhere');
    for (const m of c.running()) assert.deepEqual(m.store.node('n1')?.labels, { step: 'retried' });
  });
});

test('a follower refuses proposals and read barriers, naming the leader; the leader serves both', async () => {
  await withCluster({}, async (c) => {
    const leader = await c.leader();
    // The followers know the leader from its heartbeats.
    for (const f of followers(c, leader)) {
      await waitFor(() => f.host.leaderId === leader.id, {
        what: `${f.id} to know the leader`,
        timeoutMs: 5_000,
        intervalMs: 10,
      });
    }
    for (const f of followers(c, leader)) {
      const before = f.store.appliedIndex;
      await assert.rejects(f.host.propose(putNode(nodeRecord(`from-${f.id}`))), (e: unknown) => {
        assert.ok(e instanceof NotLeader, `propose on ${f.id}: ${String(e)}`);
        assert.equal(e.code, 'not_leader');
        assert.equal(e.leader, leader.id);
        return true;
      });
      await assert.rejects(f.host.readBarrier(1_000), (e: unknown) => {
        assert.ok(e instanceof NotLeader, `readBarrier on ${f.id}: ${String(e)}`);
        assert.equal(e.code, 'not_leader');
        assert.equal(e.leader, leader.id);
        return true;
      });
      assert.equal(f.store.appliedIndex, before);
    }
    for (const m of c.running()) assert.equal(m.store.node('from-b'), undefined);

    // The leader's barrier covers every write acknowledged before it.
    const w = await leader.host.propose(putNode(nodeRecord('n1')));
    await leader.host.readBarrier(2_000);
    assert.ok(leader.store.appliedIndex >= w.index);
    await Promise.all([1, 2, 3].map(() => leader.host.readBarrier(2_000)));
  });
});

test('a cut-off leader is replaced; its pending write fails, is applied nowhere, and it converges after healing', async () => {
  await withCluster({ commitTimeoutMs: 3_000 }, async (c) => {
    const old = await c.leader();
    await old.host.propose(putNode(nodeRecord('before')));
    await c.converged('the first write everywhere');

    // The write is appended on the old leader but none of its messages get through.
    const pending = old.host.propose(putNode(nodeRecord('lost')));
    const outcome = pending.then(
      () => 'applied',
      (e: unknown) => e,
    );
    c.hub.isolate(old.id);
    // Nor can it vouch for a read any more: a quorum must confirm it still leads.
    const read = old.host.readBarrier(3_000).then(
      () => 'served',
      (e: unknown) => e,
    );

    const others = followers(c, old);
    const next = await c.leader('a new leader among the other two', others);
    assert.notEqual(next.id, old.id);
    const failed = await outcome;
    assert.ok(
      hasCode(failed, 'not_leader', 'unavailable', 'no_quorum'),
      `the old leader's pending write: ${String(failed)}`,
    );
    const refusedRead = await read;
    assert.ok(
      hasCode(refusedRead, 'not_leader', 'no_quorum'),
      `the old leader's read barrier: ${String(refusedRead)}`,
    );
    await waitFor(() => !old.host.isLeader, {
      what: 'the old leader to step down',
      timeoutMs: 5_000,
    });

    // A write on the cut-off side is refused at once; the majority keeps taking writes.
    await assert.rejects(old.host.propose(putNode(nodeRecord('lost-2'))), (e: unknown) =>
      hasCode(e, 'not_leader', 'no_quorum', 'unavailable'),
    );
    await next.host.propose(putNode(nodeRecord('during')));
    await c.converged('the majority to agree', others);
    assert.equal(old.store.node('during'), undefined);

    c.hub.heal(old.id);
    await waitFor(() => old.host.leaderId === next.id, {
      what: 'the old leader to follow the new one',
      timeoutMs: 5_000,
      intervalMs: 10,
    });
    await next.host.propose(putNode(nodeRecord('after')));
    await c.converged('all three after healing');
    for (const m of c.running()) {
      assert.equal(m.store.node('lost'), undefined, `the pending write on ${m.id}`);
      assert.equal(m.store.node('lost-2'), undefined, `the refused write on ${m.id}`);
      for (const id of ['before', 'during', 'after'])
        assert.ok(m.store.node(id), `${id} on ${m.id}`);
    }
  });
});

test('a follower cut off while the log was compacted catches up through a snapshot', async () => {
  const lagger = memoryLogger('c');
  await withCluster(
    { snapshotEvery: 20, retainEntries: 5 },
    async (c) => {
      const leader = await c.leader();
      const behind = c.member('c');
      assert.notEqual(leader.id, behind.id);
      await leader.host.propose(putNode(nodeRecord('n0')));
      await c.converged('the first write everywhere');
      const cutAt = behind.store.appliedIndex;

      c.hub.isolate(behind.id);
      for (let i = 1; i <= 60; i++) {
        await leader.host.propose(putNode(nodeRecord(`n${i % 7}`, { labels: { i: String(i) } })));
      }
      await c.converged('the majority', followers(c, behind));
      const first = leader.host.status().firstIndex;
      assert.ok(first > cutAt + 1, `the leader compacted past ${cutAt} (first index ${first})`);
      assert.equal(behind.store.appliedIndex, cutAt);

      c.hub.heal(behind.id);
      await c.converged('the lagging follower to catch up');
      assert.ok(
        lagger.lines.some((l) => l.includes('installing snapshot from the leader')),
        'the follower installed a snapshot',
      );
      const snap = behind.storage.load().snapshot;
      assert.ok(snap && snap.meta.index > cutAt, 'the snapshot is in its Raft log');
      assert.ok((c.hub.sent.get('snap') ?? 0) > 0);
      assert.deepEqual(behind.host.status().conf, { voters: ['a', 'b', 'c'], learners: [] });

      // And it keeps replicating normally afterwards.
      await leader.host.propose(putNode(nodeRecord('later')));
      await c.converged('a write after the snapshot');
      assert.ok(behind.store.node('later'));
    },
    { c: lagger },
  );
});

test('a restarted manager comes back with its applied state and rejoins', async () => {
  // Small snapshots, so that each restart boots from a snapshot plus the entries after it.
  await withCluster({ snapshotEvery: 10, retainEntries: 3 }, async (c) => {
    const leader = await c.leader();
    for (let i = 0; i < 25; i++) await leader.host.propose(putNode(nodeRecord(`n${i % 5}`)));
    await c.converged('the writes everywhere');
    for (const m of c.running()) {
      assert.ok(m.storage.load().snapshot, `${m.id} has compacted its log`);
    }

    const victim = followers(c, leader)[0];
    assert.ok(victim);
    const before = stateOf(victim.store);
    c.stop(victim.id);
    await leader.host.propose(putNode(nodeRecord('while-down')));

    const back = c.open(victim.id, { dir: victim.dir });
    assert.equal(back.start, 'existing');
    assert.deepEqual(stateOf(back.store), before, 'the state it had applied before stopping');
    await c.converged('the restarted manager to catch up');
    assert.ok(back.store.node('while-down'));
    await waitFor(() => back.host.leaderId === leader.id, {
      what: 'the restarted manager to follow the leader',
      timeoutMs: 5_000,
    });
    await leader.host.propose(putNode(nodeRecord('after')));
    await c.converged('a write after the restart');

    // The leader too: the other two elect one of them, and the old leader rejoins as a follower.
    const oldLeader = leader;
    const beforeLeader = stateOf(oldLeader.store);
    c.stop(oldLeader.id);
    const next = await c.leader('a new leader after the leader stopped');
    assert.notEqual(next.id, oldLeader.id);
    await next.host.propose(putNode(nodeRecord('new-term')));
    const reborn = c.open(oldLeader.id, { dir: oldLeader.dir });
    assert.equal(reborn.start, 'existing');
    assert.deepEqual(stateOf(reborn.store), beforeLeader);
    await c.converged('the restarted leader to catch up');
    assert.ok(reborn.store.node('new-term'));
    assert.equal(
      (await c.leader()).id,
      next.id,
      'the restarted manager did not disrupt the leader',
    );
  });
});

test('two services with the same name: the second is refused alike everywhere, and a restart agrees', async () => {
  await withCluster({}, async (c) => {
    const leader = await c.leader();
    // Two creations racing past the API's name check, as concurrent requests can.
    const [first, second] = await Promise.allSettled([
      leader.host.propose({
        commands: [{ type: 'service.put', service: newService('s1', 'web') }],
      }),
      leader.host.propose({
        commands: [{ type: 'service.put', service: newService('s2', 'web') }],
      }),
    ]);
    assert.equal(first?.status, 'fulfilled');
    assert.equal(second?.status, 'rejected', 'a second service named web is refused');
    assert.ok(second?.status === 'rejected' && isWriteConflict(second.reason));
    await c.converged('the services everywhere');
    for (const m of c.running()) {
      assert.deepEqual(
        byId(m.store.services()).map((s) => s.id),
        ['s1'],
        `services on ${m.id}`,
      );
    }

    // What a manager reads back from its files after a restart is what the others hold.
    const f = followers(c, leader)[0];
    assert.ok(f);
    c.stop(f.id);
    const back = c.open(f.id, { dir: f.dir });
    assert.deepEqual(stateOf(back.store), stateOf(leader.store), 'the restarted store');
    await c.converged('after the restart');
  });
});

/** Makes the store fail its next `times` transactions as a full disk does. */
function fillDisk(store: Store, times: number): { failed(): number } {
  const apply = store.apply.bind(store);
  let failed = 0;
  store.apply = (p, index) => {
    if (failed < times) {
      failed++;
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    }
    return apply(p, index);
  };
  return { failed: () => failed };
}

async function loneManager(body: (a: Member) => Promise<void>): Promise<void> {
  const c = new Cluster({ commitTimeoutMs: 4_000 });
  try {
    const a = c.open('a');
    await waitFor(() => a.host.isLeading, { what: 'a to lead alone', timeoutMs: 5_000 });
    await body(a);
  } finally {
    await c.close();
  }
}

test('a write whose apply failed once (a full disk) and was retried resolves for its proposer', async () => {
  await loneManager(async (a) => {
    const disk = fillDisk(a.store, 1);
    const index = a.store.appliedIndex + 1;
    const write = a.host.propose(putNode(nodeRecord('n1')));
    // The host waits about a second and applies the entry again.
    await waitFor(() => a.store.node('n1'), { what: 'the entry to be applied', timeoutMs: 3_000 });
    assert.equal(disk.failed(), 1);
    assert.equal(a.store.node('n1')?.version, index);
    const changes = await write;
    assert.equal(changes.index, index);
  });
});

test('a read barrier handed out with a write whose apply was retried still resolves', async () => {
  await loneManager(async (a) => {
    const disk = fillDisk(a.store, 1);
    // Taken together, the write and the read come out of the core in one batch.
    const write = a.host.propose(putNode(nodeRecord('n1'))).catch(() => undefined);
    await a.host.readBarrier(3_000);
    assert.equal(disk.failed(), 1);
    assert.ok(a.store.node('n1'), 'the read is served after the write it covers');
    await write;
  });
});
