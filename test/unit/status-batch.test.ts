// Many statuses arriving together become a few store proposals of bounded size, and every report lands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker } from '../../manager/broker/broker.js';
import { Dispatcher } from '../../manager/dispatcher/dispatcher.js';
import { MAX_BATCH, FLUSH_MS, StatusBatch } from '../../manager/dispatcher/status-batch.js';
import { Orchestrator } from '../../manager/orchestrator/orchestrator.js';
import { Scheduler } from '../../manager/scheduler/scheduler.js';
import type { Proposal } from '../../manager/store/commands.js';
import { Store } from '../../manager/store/store.js';
import { FakeClock } from '../../shared/clock.js';
import { memoryLogger } from '../../shared/log.js';
import { encode, topics, type StatusMessage } from '../../shared/protocol.js';
import { nodeRecord, serviceRecord } from '../helpers/records.js';
import { waitFor } from '../helpers/wait.js';

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

type Handler = (topic: string, payload: Buffer, principal: undefined) => void;

/** Records in a proposal: each node put, each task in a tasks put. */
const records = (p: Proposal): number =>
  p.commands.reduce((n, c) => n + (c.type === 'tasks.put' ? c.tasks.length : 1), 0);

test('2,500 statuses at once become a few proposals of at most MAX_BATCH records', async (t) => {
  const N = 2_500;
  const store = new Store(':memory:');
  t.after(() => store.close());
  const ids = Array.from({ length: N }, (_, i) => `n${i}`);
  // Each node's task assigned by the real controllers, which then stop.
  const clock = new FakeClock();
  const deps = {
    store,
    propose: async (p: Proposal) => store.apply(p),
    logger: memoryLogger(),
    clock,
  };
  store.apply({ commands: ids.map((id) => ({ type: 'node.put', node: nodeRecord(id) })) });
  const controllers = [new Orchestrator(deps), new Scheduler(deps)];
  controllers.forEach((c) => c.start());
  store.apply({
    commands: [
      {
        type: 'service.put',
        service: serviceRecord({
          name: 'w',
          replicas: N,
          maxReplicasPerNode: 1,
          task: { image: 'x' },
        }),
      },
    ],
  });
  await waitFor(() => [...store.tasks()].filter((x) => x.nodeId).length === N, {
    what: 'assigned',
  });
  controllers.forEach((c) => c.stop());
  // As after a manager restart: nobody heard from yet.
  store.apply({
    commands: ids.map((id) => ({
      type: 'node.put',
      node: { ...nodeRecord(id), status: 'unknown' as const },
    })),
  });

  const proposals: Proposal[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const handlers: Handler[] = [];
  const broker = {
    events: {},
    onMessage: (_prefix: string, fn: Handler) => handlers.push(fn),
    isConnected: () => true,
    publish: async () => undefined,
    retainOnly: async () => undefined,
  } as unknown as Broker;
  const d = new Dispatcher({
    ...deps,
    propose: async (p: Proposal) => {
      proposals.push(p);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // As Raft: the entry applies a while later, after other work had its turns.
      await new Promise<void>((r) => clock.setTimeout(() => r(), 3 * FLUSH_MS));
      inFlight--;
      return store.apply(p);
    },
    broker,
    heartbeatMs: 1_000,
    dataKey: new Uint8Array(32),
  });
  d.attach();
  await d.start();
  for (const task of store.tasks()) {
    const nodeId = task.nodeId ?? '';
    const status: StatusMessage = {
      v: 1,
      ts: clock.now(),
      assignmentVersion: 1,
      tasks: [{ taskId: task.id, state: 'running', at: clock.now() } as StatusMessage['tasks'][0]],
      node: {
        resources: { cpus: 2, memoryBytes: 1024 ** 3 },
        platform: { os: 'linux', arch: 'arm64' },
        runtime: 'fake',
        address: '127.44.0.9',
        agentVersion: 'test',
        diskFull: false,
      },
    };
    for (const h of handlers) h(topics.status(nodeId), encode(status), undefined);
  }
  for (let i = 0; i < 80; i++) {
    clock.advance(FLUSH_MS);
    await ticks();
  }
  d.stop();
  const total = proposals.reduce((n, p) => n + records(p), 0);
  assert.equal(total, 3 * N, 'each node: ready, its facts and its task report');
  assert.ok(proposals.every((p) => records(p) <= MAX_BATCH));
  assert.equal(proposals.length, Math.ceil(total / MAX_BATCH));
  assert.equal(maxInFlight, 1, 'one batch written at a time, each from the records the last wrote');
  assert.equal([...store.tasks()].filter((x) => x.status.state === 'running').length, N);
  assert.equal(
    [...store.nodes()].filter((n) => n.status === 'ready' && n.arch === 'arm64').length,
    N,
  );
});

test('a batch put back after a failed write keeps newer reports that arrived meanwhile', () => {
  const b = new StatusBatch();
  b.status.set('a', 'ready');
  b.status.set('b', 'ready');
  const taken = b.take(1);
  assert.deepEqual([...taken.status.keys()], ['a']);
  b.status.set('a', 'down');
  b.putBack(taken);
  assert.equal(b.status.get('a'), 'down');
  assert.equal(b.size, 2);
});
