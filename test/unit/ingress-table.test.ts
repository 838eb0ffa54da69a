// Published ports and the routing mesh's table: numbering, conflicts, and which tasks serve a port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { handlers, type HandlerContext } from '../../manager/api/handlers.js';
import { removePorts } from '../../manager/api/ports.js';
import { parsePublish } from '../../manager/cli/flags/publish.js';
import { buildIngressTable } from '../../manager/ingress/table.js';
import type { Command } from '../../manager/store/commands.js';
import { Store } from '../../manager/store/store.js';
import { FleetError } from '../../shared/errors.js';
import { serviceSpecSchema, type TaskRecord } from '../../shared/spec.js';
import { nodeRecord } from '../helpers/records.js';

function withStore(fn: (store: Store, ctx: HandlerContext) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fleet-ingress-'));
  const store = new Store(path.join(dir, 'state.db'));
  try {
    fn(store, { store, now: 1_000, managerId: 'm', dataKey: new Uint8Array(32) });
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const spec = (name: string, ports: unknown[]) =>
  serviceSpecSchema.parse({ name, task: { image: 'busybox', ports } });

function create(store: Store, ctx: HandlerContext, name: string, ports: unknown[]) {
  const out = handlers['service.create']({ spec: spec(name, ports) }, ctx);
  store.apply({ commands: out.commands as Command[] });
  return out.result;
}

test('--publish parses the short form and the long form with proxy', () => {
  assert.deepEqual(parsePublish('8080:80'), { target: 80, published: 8080, protocol: 'tcp' });
  assert.deepEqual(parsePublish('published=5353,target=53,protocol=udp,proxy=v2'), {
    target: 53,
    published: 5353,
    protocol: 'udp',
    mode: 'ingress',
    proxy: 'v2',
  });
  assert.throws(() => parsePublish('published=80,target=80,proxy=v3'));
});

test('an ingress port taken by another service is refused at create time; host mode may share', () => {
  withStore((store, ctx) => {
    create(store, ctx, 'web', [{ target: 80, published: 8080 }]);
    assert.throws(
      () =>
        handlers['service.create']({ spec: spec('api', [{ target: 81, published: 8080 }]) }, ctx),
      (e: unknown) =>
        e instanceof FleetError &&
        e.code === 'conflict' &&
        /port 8080\/tcp is already published by service web/.test(e.message),
    );
    // Another protocol on the same number is another port.
    create(store, ctx, 'dns', [{ target: 53, published: 8080, protocol: 'udp' }]);
    create(store, ctx, 'h1', [{ target: 80, published: 9000, mode: 'host' }]);
    create(store, ctx, 'h2', [{ target: 80, published: 9000, mode: 'host' }]);
  });
});

test('an ingress port without a number gets one from 30000 up, never one already in use', () => {
  withStore((store, ctx) => {
    create(store, ctx, 'a', [{ target: 80, published: 30000 }]);
    const b = create(store, ctx, 'b', [{ target: 80 }]);
    assert.equal(b.spec.task.ports[0]?.published, 30001);
  });
});

test('--publish-rm withdraws by published port (or target), and refuses an unknown one', () => {
  const ports = spec('x', [
    { target: 80, published: 8080 },
    { target: 53, published: 5353, protocol: 'udp' },
  ]).task.ports;
  assert.deepEqual(
    removePorts(ports, ['8080']).map((p) => p.published),
    [5353],
  );
  assert.deepEqual(
    removePorts(ports, ['5353/udp']).map((p) => p.published),
    [8080],
  );
  assert.throws(() => removePorts(ports, ['5353/tcp']), /no port is published on 5353\/tcp/);
  assert.throws(() => removePorts(ports, ['http']), /PORT\[\/tcp\|\/udp\]/);
});

test('the table lists, per ingress port, the running tasks with their node address and host port', () => {
  withStore((store, ctx) => {
    store.apply({
      commands: [
        { type: 'node.put', node: nodeRecord('n1', { address: '127.0.0.2' }) },
        { type: 'node.put', node: nodeRecord('n2', { address: '127.0.0.3' }) },
        { type: 'node.put', node: nodeRecord('n3', { address: '127.0.0.4', status: 'down' }) },
      ],
    });
    const web = create(store, ctx, 'web', [
      { target: 80, published: 8080 },
      { target: 22, published: 2222, mode: 'host' },
    ]);
    const task = (id: string, nodeId: string, over: Partial<TaskRecord> = {}): TaskRecord => ({
      id,
      serviceId: web.id,
      serviceName: 'web',
      slot: 1,
      nodeId,
      desiredState: 'running',
      specVersion: 1,
      template: web.spec.task,
      status: {
        state: 'running',
        message: '',
        error: null,
        exitCode: null,
        hostPorts: [{ target: 80, protocol: 'tcp', hostIp: '127.0.0.9', hostPort: 40001 }],
        runtimeId: null,
        restarts: 0,
        at: 0,
      },
      notBefore: 0,
      restartHistory: [],
      createdAt: 0,
      updatedAt: 0,
      ...over,
    });
    const wildcard = task('t2', 'n2');
    wildcard.status = {
      ...wildcard.status,
      hostPorts: [{ target: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 40002 }],
    };
    const stopping = task('t3', 'n1', { desiredState: 'shutdown' });
    const onDownNode = task('t4', 'n3');
    const starting = task('t5', 'n1');
    starting.status = { ...starting.status, state: 'starting' };
    // With a health check, only a healthy task takes traffic.
    const healthy = task('t6', 'n2');
    healthy.status = { ...healthy.status, health: 'healthy' };
    const checking = task('t7', 'n2');
    checking.status = { ...checking.status, health: 'starting' };
    const unhealthy = task('t8', 'n2');
    unhealthy.status = { ...unhealthy.status, health: 'unhealthy' };
    store.apply({
      commands: [
        {
          type: 'tasks.put',
          tasks: [
            task('t1', 'n1'),
            wildcard,
            stopping,
            onDownNode,
            starting,
            healthy,
            checking,
            unhealthy,
          ],
        },
      ],
    });
    const table = buildIngressTable(store);
    assert.equal(table.version, store.appliedIndex);
    assert.deepEqual(table.ports, [
      {
        published: 8080,
        protocol: 'tcp',
        service: 'web',
        target: 80,
        // Default drain (10 s) plus the stop grace period (10 s).
        drainMs: 20_000,
        backends: [
          { taskId: 't1', nodeId: 'n1', host: '127.0.0.9', port: 40001 },
          { taskId: 't2', nodeId: 'n2', host: '127.0.0.3', port: 40002 },
          { taskId: 't6', nodeId: 'n2', host: '127.0.0.9', port: 40001 },
        ],
      },
    ]);
    const inspected = handlers['service.inspect']({ service: 'web' }, ctx).result;
    assert.deepEqual(
      inspected.ingress.map((p) => p.backends.map((b) => b.taskId)),
      [['t1', 't2', 't6']],
    );
  });
});
