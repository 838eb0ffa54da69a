// A node that rejects a task (no disk, no memory) is tried last for the replacement, not forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Orchestrator } from '../../manager/orchestrator/orchestrator.js';
import { Placer } from '../../manager/scheduler/pipeline.js';
import { REJECTION_MEMORY_MS, Scheduler } from '../../manager/scheduler/scheduler.js';
import { type NodeRecord, type TaskRecord } from '../../shared/spec.js';
import { waitFor } from '../helpers/wait.js';
import { nodeRecord, serviceRecord } from '../helpers/records.js';
import { startControllers } from '../helpers/controllers.js';

const service = serviceRecord;

function harness(nodes: NodeRecord[]) {
  const { store, clock, stop } = startControllers(nodes, (deps) => [
    new Orchestrator(deps),
    new Scheduler(deps),
  ]);
  const live = (svc: string) =>
    [...store.tasks()].filter((t) => t.serviceName === svc && t.desiredState === 'running');
  /** Plays the agent of the task's node refusing it, as pre-flight does. */
  const reject = (t: TaskRecord) =>
    store.apply({
      commands: [
        {
          type: 'tasks.put',
          tasks: [
            {
              ...t,
              status: {
                ...t.status,
                state: 'rejected',
                message: 'rejected',
                error: 'not enough disk',
                at: clock.now(),
              },
            },
          ],
        },
      ],
    });
  return { store, clock, live, reject, stop };
}

const assigned = (h: ReturnType<typeof harness>, svc: string, not?: string) =>
  waitFor(
    () => h.live(svc).find((t) => t.status.state === 'assigned' && t.id !== not && t.nodeId),
    { what: `an assigned task of ${svc}` },
  );

test('the replacement of a rejected task goes to another node', async () => {
  const h = harness([nodeRecord('a'), nodeRecord('b')]);
  h.store.apply({
    commands: [{ type: 'service.put', service: service({ name: 'pfw', task: { image: 'x' } }) }],
  });
  const first = await assigned(h, 'pfw');
  h.reject(first);
  const second = await assigned(h, 'pfw', first.id);
  assert.notEqual(second.nodeId, first.nodeId, 'not back on the node that refused it');
  assert.equal(second.slot, first.slot);
  h.stop();
});

test('a task pinned to the refusing node is still retried there', async () => {
  const h = harness([nodeRecord('a'), nodeRecord('b')]);
  h.store.apply({
    commands: [
      {
        type: 'service.put',
        service: service({
          name: 'pfpin',
          task: { image: 'x' },
          constraints: ['node.hostname==a'],
        }),
      },
    ],
  });
  const first = await assigned(h, 'pfpin');
  assert.equal(first.nodeId, 'a');
  h.reject(first);
  const second = await assigned(h, 'pfpin', first.id);
  assert.equal(second.nodeId, 'a', 'the only node that fits');
  h.stop();
});

test('the placer tries avoided nodes last, and forgets nothing it was not told', () => {
  const nodes = [nodeRecord('a'), nodeRecord('b'), nodeRecord('c')];
  const placer = new Placer(nodes, () => ({ tasks: [] }));
  const svc = service({ name: 'pfp', task: { image: 'x' } });
  const task = { serviceId: svc.id, template: svc.spec.task } as TaskRecord;
  const place = (avoid: string[]) => {
    const p = placer.place({ task, service: svc }, new Set(avoid));
    return p.ok ? p.node.id : p.reason;
  };
  assert.equal(place([]), 'a');
  assert.equal(place(['a']), 'b');
  assert.equal(place(['a', 'b']), 'c');
  assert.equal(place(['a', 'b', 'c']), 'a', 'all avoided: the best of them');
  assert.ok(REJECTION_MEMORY_MS >= 60_000);
});

test('a rejected task moves on to an untried node at once; once every node refused, the restart delay applies', async () => {
  const h = harness([nodeRecord('a'), nodeRecord('b')]);
  h.store.apply({
    commands: [
      {
        type: 'service.put',
        service: service({ name: 'pfnow', task: { image: 'x', restart: { delayMs: 4000 } } }),
      },
    ],
  });
  const first = await assigned(h, 'pfnow');
  h.reject(first);
  const second = await assigned(h, 'pfnow', first.id);
  assert.notEqual(second.nodeId, first.nodeId);
  assert.equal(second.notBefore, h.clock.now(), 'no restart delay before an untried node');
  h.reject(second);
  const third = await assigned(h, 'pfnow', second.id);
  assert.ok(third.notBefore >= h.clock.now() + 4000, 'both refused: the delay (with backoff)');
  h.stop();
});
