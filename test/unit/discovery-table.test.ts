// The discovery table and depends_on on the manager: names and backends per network, and what new tasks wait for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildDiscoveryTable } from '../../manager/network/discovery-table.js';
import { newTask, removalOf } from '../../manager/orchestrator/tasks.js';
import { dependencyWait } from '../../manager/scheduler/dependencies.js';
import { Store } from '../../manager/store/store.js';
import { discoveryTableSchema } from '../../shared/network.js';
import type { ServiceRecord, TaskRecord, TaskStatus } from '../../shared/spec.js';
import { nodeRecord, serviceRecord } from '../helpers/records.js';

function withStore(fn: (store: Store) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-discovery-'));
  const store = new Store(path.join(dir, 'state.db'));
  try {
    fn(store);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const network = (name: string, stack?: string) => ({
  id: `net-${name}`,
  name,
  driver: 'bridge' as const,
  ...(stack ? { stack } : {}),
  internal: false,
  attachable: false,
  labels: {},
  createdAt: 0,
});

function task(s: ServiceRecord, slot: number, node: string, status: Partial<TaskStatus>) {
  const t = newTask(s, slot, node, 0);
  return { ...t, status: { ...t.status, ...status } } satisfies TaskRecord;
}

const running = (hostPort: number, target = 5672): Partial<TaskStatus> => ({
  state: 'running',
  hostPorts: [{ target, protocol: 'tcp', hostIp: '127.0.0.3', hostPort }],
});

test('each network lists its services by name with the healthy running tasks behind each port', () => {
  withStore((store) => {
    const rabbit = serviceRecord({
      name: 'myapp_rabbit',
      task: {
        image: 'busybox',
        networks: [{ name: 'myapp_webnet', aliases: ['rabbit'] }],
        expose: [{ port: 5672 }],
      },
    });
    const other = serviceRecord({
      name: 'other_db',
      task: { image: 'busybox', networks: [{ name: 'other_net', aliases: ['db'] }] },
    });
    const lone = serviceRecord({ name: 'lone', task: { image: 'busybox' } });
    store.apply({
      commands: [
        { type: 'node.put', node: nodeRecord('n1', { address: '127.0.0.3' }) },
        { type: 'node.put', node: nodeRecord('n2', { status: 'down' }) },
        { type: 'network.put', network: network('myapp_webnet', 'myapp') },
        { type: 'network.put', network: network('other_net') },
        { type: 'stack.put', stack: stackRecord('myapp') },
        ...[rabbit, other, lone].map((service) => ({ type: 'service.put' as const, service })),
        {
          type: 'tasks.put',
          tasks: [
            task(rabbit, 1, 'n1', running(40001)),
            task(rabbit, 2, 'n1', { ...running(40002), health: 'unhealthy' }),
            task(rabbit, 3, 'n2', running(40003)),
            task(rabbit, 4, 'n1', { state: 'starting' }),
          ],
        },
      ],
    });
    const table = discoveryTableSchema.parse(buildDiscoveryTable(store));
    assert.deepEqual(table.stacks, ['myapp']);
    const web = table.networks.find((n) => n.name === 'myapp_webnet');
    assert.equal(web?.stack, 'myapp');
    assert.deepEqual(
      web?.services.map((s) => [s.service, s.names]),
      [['myapp_rabbit', ['rabbit', 'myapp_rabbit']]],
    );
    const backends = web?.services[0]?.ports[0]?.backends.map((b) => `${b.host}:${b.port}`);
    assert.deepEqual(backends, ['127.0.0.3:40001'], 'unhealthy, down and starting tasks left out');
    const otherNet = table.networks.find((n) => n.name === 'other_net');
    assert.deepEqual(otherNet?.services[0]?.names, ['db', 'other_db']);
    assert.deepEqual(otherNet?.services[0]?.ports, [], 'nothing declared, nothing bound yet');
  });
});

function stackRecord(name: string) {
  return {
    id: `stack-${name}`,
    name,
    services: [],
    networks: [],
    secrets: [],
    configs: [],
    compose: '',
    createdAt: 0,
    updatedAt: 0,
  };
}

test('depends_on: started, healthy and completed successfully', () => {
  withStore((store) => {
    const dep = serviceRecord({ name: 'db', task: { image: 'busybox' } });
    const job = serviceRecord({
      name: 'migrate',
      mode: 'replicated-job',
      replicas: 2,
      task: { image: 'busybox', restart: { condition: 'none' } },
    });
    const web = serviceRecord({
      name: 'web',
      dependsOn: [
        { service: 'db', condition: 'service_healthy' },
        { service: 'migrate', condition: 'service_completed_successfully' },
      ],
      task: { image: 'busybox' },
    });
    const put = (...tasks: TaskRecord[]) =>
      store.apply({ commands: [{ type: 'tasks.put', tasks }] });
    store.apply({
      commands: [dep, job, web].map((service) => ({ type: 'service.put' as const, service })),
    });
    assert.equal(dependencyWait(store, web), 'waiting for db to be healthy');
    put(task(dep, 1, 'n1', { state: 'running', health: 'starting' }));
    assert.equal(dependencyWait(store, web), 'waiting for db to be healthy');
    const started = serviceRecord({
      name: 'api',
      dependsOn: [{ service: 'db' }],
      task: { image: 'x' },
    });
    assert.equal(dependencyWait(store, started), null, 'running is enough to have started');
    put(task(dep, 2, 'n1', { state: 'running', health: 'healthy' }));
    assert.equal(dependencyWait(store, web), 'waiting for migrate to complete successfully');
    put(task(job, 1, 'n1', { state: 'complete', exitCode: 0 }));
    put(task(job, 2, 'n1', { state: 'failed', exitCode: 1 }));
    assert.equal(dependencyWait(store, web), 'waiting for migrate to complete successfully');
    put(task(job, 2, 'n1', { state: 'complete', exitCode: 0 }));
    assert.equal(dependencyWait(store, web), null);
    const gone = serviceRecord({
      name: 'x',
      dependsOn: [{ service: 'nope' }],
      task: { image: 'x' },
    });
    assert.equal(dependencyWait(store, gone), 'waiting for nope, which does not exist');
  });
});

test('removing a service stops its running tasks and deletes the others at once', () => {
  const s = serviceRecord({ name: 'web', task: { image: 'busybox' } });
  const live = task(s, 1, 'n1', { state: 'running' });
  const waiting = task(s, 2, 'n1', { state: 'assigned' });
  const done = task(s, 3, 'n1', { state: 'failed' });
  const commands = removalOf([live, waiting, done], 5_000);
  const put = commands.find((c) => c.type === 'tasks.put');
  const del = commands.find((c) => c.type === 'tasks.delete');
  assert.deepEqual(put?.type === 'tasks.put' ? put.tasks.map((t) => [t.id, t.desiredState]) : [], [
    [live.id, 'shutdown'],
  ]);
  assert.deepEqual(del?.type === 'tasks.delete' ? del.ids : [], [waiting.id, done.id]);
});
