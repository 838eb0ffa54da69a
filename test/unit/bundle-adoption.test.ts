// Offline bundles on the manager side: bundle.sign builds a manifest a board accepts; a reported bundle is adopted once, unless forged or older than the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { params } from '../../shared/api.js';
import { bundleTasks, signBundle, type SignedBundle } from '../../shared/bundle/manifest.js';
import { checkBundle } from '../../shared/bundle/verify.js';
import { isFleetError } from '../../shared/errors.js';
import { generateSigningKey } from '../../shared/identity.js';
import { newDataKey } from '../../shared/sealing.js';
import type { Assignment } from '../../shared/protocol.js';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { newCluster } from '../../manager/bootstrap/cluster.js';
import { adoptBundle } from '../../manager/dispatcher/bundle-adoption.js';
import { Store } from '../../manager/store/store.js';
import { bundleAssignedTasks, withBundle } from '../../agent/bundle/overlay.js';
import { nodeRecord, serviceRecord } from '../helpers/records.js';

const NOW = 1_800_000_000_000;

async function withStore(fn: (ctx: HandlerContext, store: Store) => void): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-bundle-adopt-'));
  const store = new Store(path.join(dir, 'state.db'));
  try {
    store.apply({ commands: [{ type: 'cluster.init', cluster: newCluster(1) }] });
    const node = nodeRecord('n1', { name: 'pi-1', labels: { site: 'north' } });
    const web = serviceRecord({ name: 'web', replicas: 2, task: { image: 'web:2' } });
    store.apply({ commands: [{ type: 'node.put', node }] });
    store.apply({ commands: [{ type: 'service.put', service: { ...web, specVersion: 4 } }] });
    fn({ store, now: NOW, managerId: 'm1', dataKey: newDataKey() }, store);
  } finally {
    store.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const sign = (ctx: HandlerContext, p: object): SignedBundle =>
  handlers['bundle.sign'](params['bundle.sign'].parse({ expiresInMs: 86_400_000, ...p }), ctx)
    .result;

/** The signed bundle without the service in the store: what a board reports after the store lost it. */
function withoutService(store: Store, signed: SignedBundle): void {
  const id = signed.manifest.services[0]?.id ?? '';
  store.apply({ commands: [{ type: 'service.remove', id }] });
}

test('bundle.sign signs the stored services for the named boards; a board of the cluster accepts it', async () => {
  await withStore((ctx, store) => {
    const signed = sign(ctx, { services: ['web'], labels: { site: 'north' } });
    const m = signed.manifest;
    assert.deepEqual(
      m.services.map((s) => [s.spec.name, s.specVersion]),
      [['web', 4]],
    );
    assert.equal(m.expiresAt, NOW + 86_400_000);
    const rootPub = store.cluster()?.rootPub ?? '';
    const board = { rootPub, nodeId: 'n1', nodeName: 'pi-1', labels: { site: 'north' } };
    assert.equal(checkBundle(signed, { ...board, now: NOW + 1 }).ok, true);
    assert.equal(checkBundle(signed, { ...board, labels: {}, now: NOW + 1 }).ok, false);
    const err = (p: object): string => {
      try {
        sign(ctx, p);
        return '';
      } catch (e) {
        return isFleetError(e) ? `${e.code}: ${e.message}` : String(e);
      }
    };
    assert.match(err({ services: ['nope'] }), /^not_found/);
    assert.match(err({ agentVersion: '9.9.9' }), /^not_found: .*agent release 9\.9\.9/);
    assert.match(err({}), /^invalid_argument: a bundle needs/);
  });
});

test('a reported bundle is adopted once: its service and the board task ids enter the store', async () => {
  await withStore((ctx, store) => {
    const signed = sign(ctx, { services: ['web'] });
    withoutService(store, signed);
    const a = adoptBundle(store, 'n1', { signed }, NOW);
    assert.equal(a.kind, 'adopted');
    store.apply({ commands: a.kind === 'adopted' ? a.commands : [] });
    const ids = bundleTasks(signed.manifest, 'n1').map((t) => t.id);
    assert.equal(ids.length, 2);
    for (const id of ids) {
      const t = store.task(id);
      assert.equal(t?.nodeId, 'n1');
      assert.equal(t?.specVersion, 4);
    }
    assert.equal(store.serviceByName('web')?.specVersion, 4);
    assert.equal(store.node('n1')?.bundle?.id, signed.manifest.id);
    assert.equal(adoptBundle(store, 'n1', { signed }, NOW).kind, 'none', 'only once');
  });
});

test('a store with a newer spec keeps it; a forged report is refused; both are noted on the node', async () => {
  await withStore((ctx, store) => {
    const signed = sign(ctx, { services: ['web'] });
    const web = store.serviceByName('web');
    assert.ok(web);
    store.apply({ commands: [{ type: 'service.put', service: { ...web, specVersion: 5 } }] });
    const kept = adoptBundle(store, 'n1', { signed }, NOW);
    assert.equal(kept.kind, 'adopted');
    assert.deepEqual(kept.kind === 'adopted' ? [kept.services, kept.skipped] : [], [[], ['web']]);
    assert.ok(kept.kind === 'adopted' && !kept.commands.some((c) => c.type === 'tasks.put'));

    const other = generateSigningKey();
    const forged = signBundle(
      { ...signed.manifest, sequence: signed.manifest.sequence + 1 },
      other.secretKey,
    );
    const refused = adoptBundle(store, 'n1', { signed: forged }, NOW);
    assert.equal(refused.kind, 'refused');
    assert.ok(refused.kind === 'refused' && refused.commands.every((c) => c.type === 'node.put'));
  });
});

test("the agent runs a pending bundle in place of its assignment's tasks of the same services", () => {
  const root = generateSigningKey();
  const web = serviceRecord({ name: 'web', task: { image: 'web:2' } });
  const manifest = {
    format: 1 as const,
    id: 'bundle0001',
    cluster: '0'.repeat(32),
    sequence: 2,
    createdAt: 0,
    expiresAt: 1,
    targets: { nodes: [], labels: {} },
    services: [{ id: web.id, specVersion: 1, spec: web.spec }],
    images: [],
    entries: [],
  };
  const tasks = bundleAssignedTasks(manifest, 'n1');
  const pending = { signed: signBundle(manifest, root.secretKey), tasks, serviceIds: [web.id] };
  const other = { ...tasks[0], id: 'other', serviceId: 'svc-db', serviceName: 'db' };
  const old = { ...tasks[0], id: 'old-web' };
  const a = { v: 1, version: 9, nodeId: 'n1', heartbeatMs: 500, tasks: [other, old] } as Assignment;
  assert.deepEqual(
    withBundle(a, pending, 'n1')?.tasks.map((t) => t.id),
    ['other', ...tasks.map((t) => t.id)],
  );
  assert.equal(withBundle(a, undefined, 'n1'), a);
  assert.deepEqual(withBundle(null, pending, 'n1')?.tasks, tasks);
});
