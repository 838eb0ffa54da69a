// Scheduling many replicas on many nodes: linear node checks per pass, same placements, one explanation for the ones that do not fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Orchestrator } from '../../manager/orchestrator/orchestrator.js';
import { Scheduler } from '../../manager/scheduler/scheduler.js';
import { maxPerNodeFilter } from '../../manager/scheduler/filters/capacity.js';
import { Placer, place } from '../../manager/scheduler/pipeline.js';
import type { NodeLoad } from '../../manager/scheduler/filters/types.js';
import { waitFor } from '../helpers/wait.js';
import { nodeRecord, serviceRecord } from '../helpers/records.js';
import { startControllers } from '../helpers/controllers.js';

/** Counts the calls of the load-dependent filter every placement asks about a node. */
function countChecks(): { calls: () => number; restore: () => void } {
  const original = maxPerNodeFilter.check.bind(maxPerNodeFilter);
  let calls = 0;
  maxPerNodeFilter.check = (ctx) => {
    calls++;
    return original(ctx);
  };
  return { calls: () => calls, restore: () => (maxPerNodeFilter.check = original) };
}

function harness(nodes: number, labelled: (i: number) => boolean) {
  return startControllers(
    Array.from({ length: nodes }, (_, i) =>
      nodeRecord(`n${String(i).padStart(5, '0')}`, { labels: labelled(i) ? { sim: 'yes' } : {} }),
    ),
    (deps) => [new Orchestrator(deps), new Scheduler(deps)],
  );
}

test('N replicas at most one per node on N nodes take a linear number of node checks', async (t) => {
  const N = 3_000;
  const counter = countChecks();
  t.after(counter.restore);
  // Every tenth node lacks the label: the placer has to step over nodes it rules out.
  const h = harness(N + N / 10, (i) => i % 11 !== 5);
  t.after(h.stop);
  h.store.apply({
    commands: [
      {
        type: 'service.put',
        service: serviceRecord({
          name: 'w',
          replicas: N,
          maxReplicasPerNode: 1,
          constraints: ['node.labels.sim==yes'],
          task: { image: 'x' },
        }),
      },
    ],
  });
  const tasks = await waitFor(
    () => {
      const assigned = [...h.store.tasks()].filter((x) => x.nodeId);
      return assigned.length === N ? assigned : null;
    },
    { what: `${N} tasks assigned`, timeoutMs: 60_000 },
  );
  const nodes = new Set(tasks.map((x) => x.nodeId));
  assert.equal(nodes.size, N, 'one task per node');
  for (const id of nodes) assert.equal(h.store.node(id ?? '')?.labels.sim, 'yes');
  assert.ok(counter.calls() < 5 * N, `${counter.calls()} node checks for ${N} tasks (N²/2 before)`);
});

test('replicas beyond what the nodes take stay pending with one explanation, without a scan each', async (t) => {
  const N = 2_000;
  const counter = countChecks();
  t.after(counter.restore);
  const h = harness(N, () => true);
  t.after(h.stop);
  h.store.apply({
    commands: [
      {
        type: 'service.put',
        service: serviceRecord({
          name: 'w',
          replicas: N + 500,
          maxReplicasPerNode: 1,
          task: { image: 'x' },
        }),
      },
    ],
  });
  const pending = await waitFor(
    () => {
      const p = [...h.store.tasks()].filter((x) => x.status.state === 'pending');
      return p.length === 500 ? p : null;
    },
    { what: '500 pending', timeoutMs: 60_000 },
  );
  assert.equal([...h.store.tasks()].filter((x) => x.nodeId).length, N);
  for (const p of pending)
    assert.match(p.status.error ?? '', /2000 nodes already run 1 replicas of w/);
  assert.ok(counter.calls() < 5 * N, `${counter.calls()} node checks`);
});

test('the first empty fitting node wins as before, nodes to avoid last', () => {
  const nodes = ['a', 'b', 'c', 'd'].map((id) => nodeRecord(id));
  const loads = new Map<string, NodeLoad>([
    ['a', { tasks: [{ serviceId: 'other' } as NodeLoad['tasks'][number]] }],
  ]);
  const loadOf = (id: string): NodeLoad => loads.get(id) ?? { tasks: [] };
  const svc = serviceRecord({ name: 'w', task: { image: 'x' } });
  const task = {
    id: 't',
    serviceId: svc.id,
    specVersion: 1,
    template: svc.spec.task,
  } as NodeLoad['tasks'][number];
  const r = place({ task, service: svc }, nodes, loadOf);
  assert.equal(r.ok ? r.node.id : r.reason, 'b');
  // b refused this service lately: c is the choice, and a busy node beats an empty b.
  const avoidB = new Placer(nodes, loadOf).place({ task, service: svc }, new Set(['b']));
  assert.equal(avoidB.ok ? avoidB.node.id : avoidB.reason, 'c');
  const onlyB = new Placer(nodes, (id) =>
    id === 'b' ? { tasks: [] } : (loads.get('a') ?? { tasks: [] }),
  );
  const r2 = onlyB.place({ task, service: svc }, new Set(['b']));
  assert.equal(r2.ok ? r2.node.id : r2.reason, 'a');
});
