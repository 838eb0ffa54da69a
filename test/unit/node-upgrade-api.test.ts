// The manager's agent upgrade methods and the agentRelease an assignment carries, on a real store; the wire fields old agents ignore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { params } from '../../shared/api.js';
import { isFleetError } from '../../shared/errors.js';
import { newDataKey } from '../../shared/sealing.js';
import { verifyManifest } from '../../shared/ota/release-record.js';
import { assignmentSchema, decode, encode, statusSchema } from '../../shared/protocol.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { newCluster } from '../../manager/bootstrap/cluster.js';
import { Store } from '../../manager/store/store.js';
import { planWave } from '../../manager/upgrader/plan.js';
import { agentReleaseFor } from '../../manager/upgrader/target.js';
import { nodeRecord } from '../helpers/records.js';

const sha = (c: string): string => c.repeat(64);

/** A store with two releases, a worker, a manager with an agent and one without. */
async function withFleet(fn: (ctx: HandlerContext, store: Store) => void): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-upgrade-unit-'));
  const store = new Store(path.join(dir, 'state.db'));
  try {
    store.apply({ commands: [{ type: 'cluster.init', cluster: newCluster(1) }] });
    const blobs = new Set([`sha256:${sha('a')}`, `sha256:${sha('b')}`]);
    const ctx: HandlerContext = { store, now: 5000, managerId: 'm1', dataKey: newDataKey(), blobs };
    for (const [version, digest] of [
      ['0.1.0', sha('a')],
      ['0.2.0', sha('b')],
    ] as const) {
      const p = { version, nodeMin: '20.0.0', sha256: digest, size: 10 };
      const r = handlers['release.create'](params['release.create'].parse(p), ctx);
      store.apply({ commands: r.commands ?? [] });
    }
    const manager = (worker: boolean) => ({ address: '127.0.18.1:4883', worker });
    const nodes = [
      nodeRecord('w1', { name: 'pi-1', agentVersion: '0.1.0' }),
      nodeRecord('m1', {
        name: 'boss',
        role: 'manager',
        agentVersion: '0.1.0',
        manager: manager(true),
      }),
      nodeRecord('m2', {
        name: 'brain',
        role: 'manager',
        agentVersion: '',
        manager: manager(false),
      }),
    ];
    store.apply({ commands: nodes.map((node) => ({ type: 'node.put' as const, node })) });
    fn(ctx, store);
  } finally {
    store.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const create = (ctx: HandlerContext, p: object) =>
  handlers['upgrade.create'](params['upgrade.create'].parse(p), ctx);

const failure = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return isFleetError(e) ? `${e.code}: ${e.message}` : String(e);
  }
  return 'no error';
};

test('upgrade.create --all takes the newest release, nodes with an agent, workers before managers', async () => {
  await withFleet((ctx, store) => {
    const r = create(ctx, { all: true, monitorMs: 1000 });
    assert.equal(r.result.release, '0.2.0');
    assert.deepEqual(
      r.result.nodes.map((n) => [n.name, n.manager, n.from, n.state]),
      [
        ['pi-1', false, '0.1.0', 'pending'],
        ['boss', true, '0.1.0', 'pending'],
      ],
    );
    assert.equal(r.result.settings.monitorMs, 1000);
    assert.equal(r.result.settings.parallelism, 1);
    store.apply({ commands: r.commands ?? [] });
    assert.match(
      failure(() => create(ctx, { all: true })),
      /^conflict: an upgrade to 0\.2\.0 is under way/,
    );
  });
});

test('upgrade.create needs one way of choosing nodes, and nodes that run an agent', async () => {
  await withFleet((ctx) => {
    assert.match(
      failure(() => create(ctx, {})),
      /^invalid_argument: name the nodes to upgrade/,
    );
    assert.match(
      failure(() => create(ctx, { nodes: ['pi-1'], all: true })),
      /^invalid_argument/,
    );
    assert.match(
      failure(() => create(ctx, { nodes: ['brain'] })),
      /node brain runs no agent/,
    );
    assert.match(
      failure(() => create(ctx, { nodes: ['pi-1'], version: '9.9.9' })),
      /^not_found/,
    );
    assert.match(
      failure(() => create(ctx, { labels: { zone: 'x' } })),
      /^not_found: .*node with an agent matching the filter/,
    );
  });
});

test('the assignment carries the signed release once the node is asked, and not once it runs it', async () => {
  await withFleet((ctx, store) => {
    store.apply({ commands: create(ctx, { nodes: ['pi-1'], version: '0.2.0' }).commands ?? [] });
    assert.equal(agentReleaseFor(store, 'w1'), undefined, 'pending: not asked yet');
    const [rollout] = [...store.upgrades()];
    assert.ok(rollout);
    const nodes = new Map([...store.nodes()].map((n) => [n.id, n]));
    const releases = new Map([...store.releases()].map((r) => [r.manifest.version, r.manifest]));
    const step = planWave(rollout, { nodes, releases, now: 6000 });
    assert.ok(step.rollout);
    store.apply({ commands: [{ type: 'upgrade.put', upgrade: step.rollout }] });
    const rel = agentReleaseFor(store, 'w1');
    assert.ok(rel);
    assert.equal(rel.version, '0.2.0');
    assert.equal(rel.sha256, sha('b'));
    assert.equal(rel.rollout, rollout.id);
    const { signature, rollout: _id, ...manifest } = rel;
    assert.equal(verifyManifest(manifest, signature, store.cluster()?.rootPub ?? ''), true);
    assert.equal(agentReleaseFor(store, 'm1'), undefined, 'the manager waits its turn');
    const w1 = store.node('w1');
    assert.ok(w1);
    store.apply({ commands: [{ type: 'node.put', node: { ...w1, agentVersion: '0.2.0' } }] });
    assert.equal(agentReleaseFor(store, 'w1'), undefined, 'runs it already');
  });
});

test('upgrade.rollback is refused when a previous release is no longer stored', async () => {
  await withFleet((ctx, store) => {
    store.apply({ commands: create(ctx, { nodes: ['pi-1'] }).commands ?? [] });
    const [rollout] = [...store.upgrades()];
    assert.ok(rollout);
    const nodes = new Map([...store.nodes()].map((n) => [n.id, n]));
    const releases = new Map([...store.releases()].map((r) => [r.manifest.version, r.manifest]));
    const step = planWave(rollout, { nodes, releases, now: 6000 });
    store.apply({ commands: [{ type: 'upgrade.put', upgrade: step.rollout ?? rollout }] });
    const old = [...store.releases()].find((r) => r.manifest.version === '0.1.0');
    assert.ok(old);
    store.apply({ commands: [{ type: 'release.remove', id: old.id }] });
    assert.match(
      failure(() => handlers['upgrade.rollback']({}, ctx)),
      /^conflict: cannot roll back: node pi-1's previous release 0\.1\.0 is no longer stored/,
    );
  });
});

test('agents and managers that predate the upgrade fields still read each other', () => {
  const release = {
    version: '0.2.0',
    nodeMin: '20.0.0',
    sha256: sha('b'),
    size: 10,
    createdAt: 1,
    signature: 'c2ln',
    rollout: 'r1',
  };
  const assignment = { v: 1, version: 3, nodeId: 'w1', heartbeatMs: 1000, tasks: [] };
  const withRelease = decode(assignmentSchema, encode({ ...assignment, agentRelease: release }));
  assert.ok(withRelease.ok && withRelease.value.agentRelease?.version === '0.2.0');
  // An agent of the previous protocol: its schema has no agentRelease and drops the field.
  const older = assignmentSchema.omit({ agentRelease: true });
  assert.ok(decode(older, encode({ ...assignment, agentRelease: release })).ok);
  const node = {
    resources: { cpus: 1, memoryBytes: 1 },
    platform: { os: 'linux', arch: 'arm64' },
    runtime: 'process',
    address: '127.0.18.2',
    agentVersion: '0.1.0',
  };
  const status = { v: 1, ts: 1, assignmentVersion: 0, tasks: [], node };
  assert.ok(decode(statusSchema, encode(status)).ok, 'a status without the upgrade fields');
  const failed = {
    state: 'failed',
    version: '0.2.0',
    reason: 'exited at start with code 1',
    at: 2,
  };
  const reported = decode(statusSchema, encode({ ...status, node: { ...node, upgrade: failed } }));
  assert.ok(reported.ok);
  assert.equal(reported.value.node?.upgrade?.reason, 'exited at start with code 1');
});

test('a release an upgrade under way needs is not removed unless forced', async () => {
  await withFleet((ctx, store) => {
    store.apply({ commands: create(ctx, { nodes: ['pi-1'] }).commands ?? [] });
    const rm = (version: string, force = false) =>
      handlers['release.rm'](params['release.rm'].parse({ version, force }), ctx);
    assert.match(
      failure(() => rm('0.2.0')),
      /^conflict: agent release 0\.2\.0 is needed by the agent upgrade to 0\.2\.0 \(updating\)/,
    );
    assert.match(
      failure(() => rm('0.1.0')),
      /needed by the agent upgrade/,
    );
    assert.equal(rm('0.2.0', true).result.version, '0.2.0');
  });
});
