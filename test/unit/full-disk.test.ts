// A store that refuses writes (a full disk): dispatcher and controllers log once, retry later, and catch up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker } from '../../manager/broker/broker.js';
import { Dispatcher } from '../../manager/dispatcher/dispatcher.js';
import { Orchestrator } from '../../manager/orchestrator/orchestrator.js';
import type { Proposal } from '../../manager/store/commands.js';
import { Store } from '../../manager/store/store.js';
import { FakeClock } from '../../shared/clock.js';
import { memoryLogger } from '../../shared/log.js';
import { encode, topics, type StatusMessage } from '../../shared/protocol.js';
import { serviceSpecSchema, type NodeRecord } from '../../shared/spec.js';
import { nodeRecord } from '../helpers/records.js';

const node = (id: string): NodeRecord => nodeRecord(id, { runtime: 'process' });

/** A store whose writes fail like SQLite on a full disk while `full` is set. */
function fullDiskStore() {
  const store = new Store(':memory:');
  const state = { full: false, attempts: 0 };
  const propose = async (p: Proposal) => {
    if (state.full) {
      state.attempts++;
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    }
    return store.apply(p);
  };
  return { store, state, propose };
}

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const count = (lines: string[], msg: string): number =>
  lines.filter((l) => (JSON.parse(l) as { msg: string }).msg === msg).length;

type Handler = (topic: string, payload: Buffer, principal: undefined, clientId: string) => void;

test('dispatcher writes refused by a full disk are logged once, retried, and land when space returns', async () => {
  const { store, state, propose } = fullDiskStore();
  store.apply({ commands: [node('n1'), node('n2')].map((n) => ({ type: 'node.put', node: n })) });
  const clock = new FakeClock();
  const logger = memoryLogger();
  const handlers: Handler[] = [];
  const broker = {
    events: {},
    onMessage: (_prefix: string, fn: Handler) => handlers.push(fn),
    isConnected: () => true,
    publish: async () => undefined,
  } as unknown as Broker;
  state.full = true;
  const d = new Dispatcher({
    store,
    propose,
    broker,
    logger,
    clock,
    heartbeatMs: 1_000,
    dataKey: new Uint8Array(32),
    markUnknownOnStart: () => true,
  });
  d.attach();
  await d.start(); // its "manager restarted" write fails too, without throwing
  assert.equal(count(logger.lines, 'could not mark nodes unknown after a restart'), 1);

  const status: StatusMessage = {
    v: 1,
    ts: clock.now(),
    assignmentVersion: 0,
    tasks: [],
    node: {
      resources: { cpus: 4, memoryBytes: 1024 },
      platform: { os: 'linux', arch: 'arm64' },
      runtime: 'process',
      address: '127.0.0.2',
      agentVersion: '0.1.0',
      diskFull: true,
    },
  };
  // n1 reports (and beats) every second; n2 stays silent, so health checks want it down.
  for (let s = 0; s < 8; s++) {
    for (const h of handlers) h(topics.status('n1'), encode(status), undefined, 'n1');
    clock.advance(1_000);
    await ticks();
  }
  assert.ok(state.attempts >= 8, `writes were retried (${state.attempts} attempts)`);
  assert.ok(count(logger.lines, 'could not record agent reports; will retry') <= 2);
  assert.ok(count(logger.lines, 'could not record node health; will retry') <= 2);
  assert.equal(count(logger.lines, 'node down'), 0, 'a node reported down that was not recorded');
  assert.equal(store.node('n1')?.statusMessage, '');
  assert.equal(store.node('n2')?.status, 'ready');

  state.full = false;
  for (let s = 0; s < 3; s++) {
    for (const h of handlers) h(topics.status('n1'), encode(status), undefined, 'n1');
    clock.advance(1_000);
    await ticks();
  }
  assert.equal(store.node('n1')?.statusMessage, 'disk full', 'the retried report landed');
  assert.equal(store.node('n2')?.status, 'down', 'the retried health check landed');
  assert.equal(count(logger.lines, 'node down'), 1);
  d.stop();
  store.close();
});

test('a controller whose writes fail retries after a pause instead of spinning, then catches up', async () => {
  const { store, state, propose } = fullDiskStore();
  store.apply({ commands: [{ type: 'node.put', node: node('n1') }] });
  const clock = new FakeClock();
  const logger = memoryLogger();
  const orch = new Orchestrator({ store, propose, logger, clock });
  state.full = true;
  store.apply({
    commands: [
      {
        type: 'service.put',
        service: {
          id: 'svc-web',
          spec: serviceSpecSchema.parse({ name: 'web', replicas: 2, task: { image: 'x' } }),
          specVersion: 1,
          createdAt: 0,
          updatedAt: 0,
        },
      },
    ],
  });
  orch.start();
  await ticks(50);
  assert.equal(state.attempts, 1, 'a failed pass was retried at once');
  for (let s = 0; s < 5; s++) {
    clock.advance(1_000);
    await ticks();
  }
  assert.ok(state.attempts >= 5 && state.attempts <= 8, `${state.attempts} attempts in 5 s`);
  assert.equal(count(logger.lines, 'reconcile pass failed; will retry'), 1);

  state.full = false;
  clock.advance(1_000);
  await ticks(20);
  assert.equal(store.tasksOfService('svc-web').length, 2, 'the orchestrator caught up');
  orch.stop();
  store.close();
});
