// Orchestrator and scheduler together on an in-memory store: slots, spreading, failures, constraints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Orchestrator } from '../../manager/orchestrator/orchestrator.js';
import { Scheduler } from '../../manager/scheduler/scheduler.js';
import { type NodeRecord, type TaskRecord } from '../../shared/spec.js';
import { waitFor } from '../helpers/wait.js';
import { nodeRecord, serviceRecord } from '../helpers/records.js';
import { startControllers } from '../helpers/controllers.js';

const node = nodeRecord;

const service = serviceRecord;

function harness(nodes: NodeRecord[]) {
  const { store, clock, stop } = startControllers(nodes, (deps) => [
    new Orchestrator(deps),
    new Scheduler(deps),
  ]);
  const live = (svc: string) =>
    [...store.tasks()].filter((t) => t.serviceName === svc && t.desiredState === 'running');
  /** Plays the agents: every assigned task reports running. */
  const agentsRun = () => {
    const tasks: TaskRecord[] = [...store.tasks()]
      .filter((t) => t.status.state === 'assigned' && t.desiredState === 'running')
      .map((t) => ({ ...t, status: { ...t.status, state: 'running' } }));
    if (tasks.length) store.apply({ commands: [{ type: 'tasks.put', tasks }] });
  };
  return { store, clock, live, stop, agentsRun };
}

test('a replicated service gets slots 1..N spread evenly across ready nodes', async () => {
  const h = harness([node('a'), node('b')]);
  h.store.apply({
    commands: [
      { type: 'service.put', service: service({ name: 'web', replicas: 4, task: { image: 'x' } }) },
    ],
  });
  const tasks = await waitFor(
    () => (h.live('web').filter((t) => t.nodeId).length === 4 ? h.live('web') : null),
    { what: '4 assigned' },
  );
  assert.deepEqual(tasks.map((t) => t.slot).sort(), [1, 2, 3, 4]);
  assert.equal(tasks.filter((t) => t.nodeId === 'a').length, 2);
  assert.equal(tasks.filter((t) => t.nodeId === 'b').length, 2);
  h.stop();
});

test('tasks of a node that goes down are replaced on the others, keeping their slots', async () => {
  const h = harness([node('a'), node('b')]);
  h.store.apply({
    commands: [
      { type: 'service.put', service: service({ name: 'web', replicas: 4, task: { image: 'x' } }) },
    ],
  });
  await waitFor(() => h.live('web').filter((t) => t.nodeId).length === 4, { what: 'assigned' });
  h.agentsRun();
  const down = { ...node('a'), status: 'down' as const };
  h.store.apply({ commands: [{ type: 'node.put', node: down }] });
  await waitFor(() => h.live('web').filter((t) => t.nodeId === 'b').length === 4, {
    what: 'all on b',
  });
  const orphaned = [...h.store.tasks()].filter((t) => t.status.state === 'orphaned');
  assert.equal(orphaned.length, 2);
  assert.deepEqual(
    h
      .live('web')
      .map((t) => t.slot)
      .sort(),
    [1, 2, 3, 4],
  );
  h.stop();
});

test('a constraint no node satisfies leaves the task pending with the reason', async () => {
  const h = harness([node('a'), node('b')]);
  h.store.apply({
    commands: [
      {
        type: 'service.put',
        service: service({
          name: 'arm',
          replicas: 1,
          task: { image: 'x' },
          constraints: ['node.platform.arch==arm64'],
        }),
      },
    ],
  });
  const t = await waitFor(() => h.live('arm').find((x) => x.status.state === 'pending'), {
    what: 'pending task',
  });
  assert.equal(t.status.error, 'no suitable node: 2 nodes lack arch arm64');
  h.store.apply({ commands: [{ type: 'node.put', node: node('c', { arch: 'arm64' }) }] });
  const placed = await waitFor(() => h.live('arm').find((x) => x.nodeId === 'c'), {
    what: 'placed on the arm64 node',
  });
  assert.equal(placed.status.state, 'assigned');
  h.stop();
});

test('a global service runs one task per eligible node, including one that joins later', async () => {
  const h = harness([node('a'), node('b', { availability: 'drain' })]);
  h.store.apply({
    commands: [
      {
        type: 'service.put',
        service: service({ name: 'mon', mode: 'global', task: { image: 'x' } }),
      },
    ],
  });
  await waitFor(() => h.live('mon').filter((t) => t.status.state === 'assigned').length === 1, {
    what: 'one global task',
  });
  h.store.apply({ commands: [{ type: 'node.put', node: node('c') }] });
  const tasks = await waitFor(
    () =>
      h.live('mon').filter((t) => t.status.state === 'assigned').length === 2
        ? h.live('mon')
        : null,
    { what: 'two global tasks' },
  );
  assert.deepEqual(tasks.map((t) => t.nodeId).sort(), ['a', 'c']);
  h.stop();
});

test('max replicas per node and reservations are respected', async () => {
  const h = harness([node('a'), node('b', { resources: { cpus: 1, memoryBytes: 1024 } })]);
  h.store.apply({
    commands: [
      {
        type: 'service.put',
        service: service({
          name: 'w',
          replicas: 3,
          maxReplicasPerNode: 1,
          task: { image: 'x', resources: { cpu: 2 } },
        }),
      },
    ],
  });
  await waitFor(() => h.live('w').filter((t) => t.status.state === 'pending').length === 2, {
    what: 'two pending',
  });
  const pending = h.live('w').find((t) => t.status.state === 'pending');
  assert.match(pending?.status.error ?? '', /1 node already run 1 replicas of w/);
  assert.match(pending?.status.error ?? '', /1 node lack free CPU/);
  h.stop();
});

test('a failed task is replaced in its slot after the restart delay; condition none leaves it', async () => {
  const h = harness([node('a')]);
  h.store.apply({
    commands: [
      {
        type: 'service.put',
        service: service({
          name: 'r',
          replicas: 1,
          task: { image: 'x', restart: { delayMs: 3000 } },
        }),
      },
    ],
  });
  await waitFor(() => h.live('r').find((t) => t.status.state === 'assigned'), { what: 'assigned' });
  h.agentsRun();
  const first = h.live('r')[0] as TaskRecord;
  h.store.apply({
    commands: [
      { type: 'tasks.put', tasks: [{ ...first, status: { ...first.status, state: 'failed' } }] },
    ],
  });
  const second = await waitFor(() => h.live('r').find((t) => t.id !== first.id), {
    what: 'replacement',
  });
  assert.equal(second.slot, 1);
  assert.equal(second.notBefore, h.clock.now() + 3000);
  assert.equal(h.store.task(first.id)?.desiredState, 'shutdown');

  h.store.apply({
    commands: [
      {
        type: 'service.put',
        service: service({
          name: 'n',
          replicas: 1,
          task: { image: 'x', restart: { condition: 'none' } },
        }),
      },
    ],
  });
  await waitFor(() => h.live('n').find((t) => t.status.state === 'assigned'), {
    what: 'assigned n',
  });
  const only = h.live('n')[0] as TaskRecord;
  h.store.apply({
    commands: [
      { type: 'tasks.put', tasks: [{ ...only, status: { ...only.status, state: 'failed' } }] },
    ],
  });
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(
    [...h.store.tasks()].filter((t) => t.serviceName === 'n').length,
    1,
    'no replacement',
  );
  h.stop();
});
