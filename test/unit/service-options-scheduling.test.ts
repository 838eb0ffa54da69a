// Scheduling and updating services with options: the devices filter, spread preferences, CPU limits and new spec versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { withInfo } from '../../manager/dispatcher/reports.js';
import { Placer } from '../../manager/scheduler/pipeline.js';
import type { Command } from '../../manager/store/commands.js';
import { Store } from '../../manager/store/store.js';
import { params, type Method, type Params } from '../../shared/api.js';
import type { NodeRecord, TaskRecord } from '../../shared/spec.js';
import { nodeRecord, serviceRecord } from '../helpers/records.js';

const NODE_INFO = {
  resources: { cpus: 4, memoryBytes: 4 * 1024 ** 3 },
  platform: { os: 'linux', arch: 'amd64' },
  runtime: 'docker' as const,
  address: '127.0.0.2',
  agentVersion: '',
  diskFull: false,
};

function placeOne(nodes: NodeRecord[], taskSpec: Record<string, unknown>, extra: object = {}) {
  const svc = serviceRecord({ name: 'dev', task: { image: 'x', ...taskSpec }, ...extra });
  const task = { serviceId: svc.id, serviceName: 'dev', template: svc.spec.task } as TaskRecord;
  return new Placer(nodes, () => ({ tasks: [] })).place({ task, service: svc });
}

test('a task using devices goes only to a node that allows them, and says why others do not fit', () => {
  const nodes = [nodeRecord('a'), nodeRecord('b'), nodeRecord('c', { allowDevices: true })];
  const devices = { devices: [{ host: '/dev/i2c-1', container: '/dev/i2c-1', permissions: 'rw' }] };
  const placed = placeOne(nodes, devices);
  assert.ok(placed.ok);
  assert.equal(placed.node.id, 'c');
  for (const opts of [
    devices,
    { privileged: true },
    { capAdd: ['NET_ADMIN'] },
    { sysctls: { 'net.core.somaxconn': '1' } },
  ]) {
    const none = placeOne(nodes.slice(0, 2), opts);
    assert.deepEqual(none, { ok: false, reason: 'no suitable node: 2 nodes do not allow devices' });
  }
  // Mounts, limits and the like need no permission.
  const plain = placeOne(nodes.slice(0, 1), {
    mounts: [{ type: 'tmpfs', target: '/t' }],
    limits: { cpu: 1 },
  });
  assert.ok(plain.ok);
});

test('an agent reporting --allow-devices marks its node, and a change of it is a change of the node', () => {
  const n = nodeRecord('a');
  const marked = withInfo(n, { ...NODE_INFO, allowDevices: true }, 5);
  assert.equal(marked?.allowDevices, true);
  assert.equal(withInfo(marked, { ...NODE_INFO, allowDevices: true }, 6), null);
  assert.equal(withInfo(marked, NODE_INFO, 7)?.allowDevices, false);
});

test("a CPU limit above a node's CPU count rules the node out; reservations count against what nodes report", () => {
  const nodes = [nodeRecord('small', { resources: { cpus: 2, memoryBytes: 1024 ** 3 } })];
  assert.deepEqual(placeOne(nodes, { limits: { cpu: 3 } }), {
    ok: false,
    reason: "no suitable node: 1 node have fewer CPUs than the task's CPU limit",
  });
  assert.ok(placeOne(nodes, { limits: { cpu: 2 } }).ok);
  assert.deepEqual(placeOne(nodes, { resources: { cpu: 0, memoryBytes: 2 * 1024 ** 3 } }), {
    ok: false,
    reason: 'no suitable node: 1 node lack free memory',
  });
});

test('spread=node.labels.zone fills each zone evenly before piling onto the zone with more nodes', () => {
  const nodes = [
    nodeRecord('a1', { labels: { zone: 'a' } }),
    nodeRecord('a2', { labels: { zone: 'a' } }),
    nodeRecord('a3', { labels: { zone: 'a' } }),
    nodeRecord('b1', { labels: { zone: 'b' } }),
    nodeRecord('nolabel'),
  ];
  const zonesOf = (extra: object): Record<string, number> => {
    const loads = new Map<string, TaskRecord[]>(nodes.map((n) => [n.id, []]));
    const svc = serviceRecord({ name: 'web', task: { image: 'x' }, ...extra });
    const placer = new Placer(nodes, (id) => ({ tasks: loads.get(id) ?? [] }));
    const zones: Record<string, number> = {};
    for (let i = 0; i < 6; i++) {
      const task = { id: `t${i}`, serviceId: svc.id, template: svc.spec.task } as TaskRecord;
      const p = placer.place({ task, service: svc });
      assert.ok(p.ok);
      loads.get(p.node.id)?.push(task);
      const zone = p.node.labels.zone ?? 'none';
      zones[zone] = (zones[zone] ?? 0) + 1;
    }
    return zones;
  };
  // Three groups (a, b, no label) get two tasks each, though zone a has three nodes.
  assert.deepEqual(zonesOf({ placementPrefs: [{ spread: 'node.labels.zone' }] }), {
    a: 2,
    b: 2,
    none: 2,
  });
  // Without the preference tasks spread over nodes: zone a, with three of them, gets four.
  assert.deepEqual(zonesOf({}), { a: 4, b: 1, none: 1 });
});

test('an options update is a new spec version, so the updater replaces the tasks; an empty one is not', () => {
  const store = new Store(':memory:');
  try {
    const ctx = (): HandlerContext => ({
      store,
      now: 1,
      managerId: 'm',
      dataKey: new Uint8Array(32),
    });
    const call = <M extends Method>(method: M, p: Params<M>) => {
      const handler = handlers[method] as (p: never, c: HandlerContext) => { commands?: Command[] };
      const out = handler(params[method].parse(p) as never, ctx());
      if (out.commands) store.apply({ commands: out.commands });
    };
    call('service.create', { spec: { name: 'cam', task: { image: 'cam:1' } } });
    const version = () => store.serviceByName('cam')?.specVersion;
    assert.equal(version(), 1);
    call('service.update', {
      service: 'cam',
      options: { mountAdd: [{ type: 'volume', source: 'pics', target: '/pics' }] },
    });
    assert.equal(version(), 2);
    assert.deepEqual(store.serviceByName('cam')?.spec.task.mounts, [
      { type: 'volume', source: 'pics', target: '/pics' },
    ]);
    call('service.update', {
      service: 'cam',
      options: { limits: { memoryBytes: 32 * 1024 * 1024 } },
    });
    assert.equal(version(), 3);
    call('service.update', {
      service: 'cam',
      options: { placementPrefAdd: [{ spread: 'node.labels.zone' }] },
    });
    assert.equal(version(), 4);
    call('service.update', { service: 'cam', options: {} });
    assert.equal(version(), 4, 'an empty change keeps the version');
    assert.throws(
      () =>
        call('service.update', {
          service: 'cam',
          options: { mountAdd: [{ type: 'volume', target: '/x' }] },
        }),
      /volume mount needs source=NAME/,
    );
  } finally {
    store.close();
  }
});
