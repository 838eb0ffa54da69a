// Three RaftHosts in one process on real SQLite files and a FakeClock, linked by an in-memory transport: replication, conflicts, failover, snapshots, restarts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotLeader } from '../../manager/raft/host.js';
import type { Proposal } from '../../manager/store/commands.js';
import { WriteConflict, isWriteConflict, retryOnConflict } from '../../manager/store/conflict.js';
import type { Store } from '../../manager/store/store.js';
import { FleetError } from '../../shared/errors.js';
import { memoryLogger } from '../../shared/log.js';
import { serviceSpecSchema, type NodeRecord, type ServiceRecord } from '../../shared/spec.js';
import {
  byId,
  loneManager,
  stateOf,
  withCluster,
  type Cluster,
  type Member,
} from '../helpers/raft-hosts.js';
import { nodeRecord } from '../helpers/records.js';

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
      await c.waitFor(() => f.host.leaderId === leader.id, {
        what: `${f.id} to know the leader`,
        timeoutMs: 5_000,
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
    await c.waitFor(() => !old.host.isLeader, {
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
    await c.waitFor(() => old.host.leaderId === next.id, {
      what: 'the old leader to follow the new one',
      timeoutMs: 5_000,
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
    await c.waitFor(() => back.host.leaderId === leader.id, {
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

test('a write whose apply failed once (a full disk) and was retried resolves for its proposer', async () => {
  await loneManager(async (a, c) => {
    const disk = fillDisk(a.store, 1);
    const index = a.store.appliedIndex + 1;
    const write = a.host.propose(putNode(nodeRecord('n1')));
    // The host waits about a second and applies the entry again.
    await c.waitFor(() => a.store.node('n1'), {
      what: 'the entry to be applied',
      timeoutMs: 3_000,
    });
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
