// Job services on the in-memory controllers: concurrency, completions, retries, a global job once per node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Controller } from '../../manager/leader/controller.js';
import { Orchestrator } from '../../manager/orchestrator/orchestrator.js';
import { Scheduler } from '../../manager/scheduler/scheduler.js';
import { Updater } from '../../manager/updater/updater.js';
import { Store } from '../../manager/store/store.js';
import { serviceView } from '../../manager/api/views.js';
import { replicasText } from '../../manager/cli/format/service-listing.js';
import { FakeClock } from '../../shared/clock.js';
import { memoryLogger } from '../../shared/log.js';
import type { NodeRecord, ServiceRecord, TaskRecord, TaskState } from '../../shared/spec.js';
import { waitFor } from '../helpers/wait.js';
import { nodeRecord, serviceRecord } from '../helpers/records.js';

/** A store and a clock that outlive their controllers, so a leader change can be played. */
function harness(nodes: NodeRecord[]) {
  const store = new Store(':memory:');
  const clock = new FakeClock();
  store.apply({ commands: nodes.map((node) => ({ type: 'node.put' as const, node })) });
  let controllers: Controller[] = [];
  const lead = () => {
    const deps = {
      store,
      propose: async (p: Parameters<Store['apply']>[0]) => store.apply(p),
      logger: memoryLogger(),
      clock,
    };
    controllers = [new Orchestrator(deps), new Scheduler(deps), new Updater(deps)];
    for (const c of controllers) c.start();
  };
  const stepDown = () => {
    for (const c of controllers) c.stop();
  };
  const tasks = (svc: string) => [...store.tasks()].filter((t) => t.serviceName === svc);
  const live = (svc: string) =>
    tasks(svc).filter(
      (t) =>
        t.desiredState === 'running' &&
        !['complete', 'failed', 'rejected', 'shutdown', 'orphaned'].includes(t.status.state),
    );
  /** Plays the agent of a task: it reports the task in this state. */
  const report = (t: TaskRecord, state: TaskState) =>
    store.apply({
      commands: [
        { type: 'tasks.put', tasks: [{ ...t, status: { ...t.status, state, at: clock.now() } }] },
      ],
    });
  const put = (s: ServiceRecord) =>
    store.apply({ commands: [{ type: 'service.put', service: s }] });
  /**
   * Waits for a pass that has seen everything so far: a probe service is put and its task
   * appears, and every pass looks at every service.
   */
  let probes = 0;
  const settled = async () => {
    const name = `probe${++probes}`;
    put(serviceRecord({ name, task: { image: 'x' } }));
    await waitFor(() => tasks(name).length > 0, { what: `a pass after ${name}` });
  };
  lead();
  return {
    store,
    clock,
    tasks,
    live,
    report,
    put,
    settled,
    lead,
    stepDown,
    stop() {
      stepDown();
      store.close();
    },
  };
}

const job = (name: string, extra: Record<string, unknown>) =>
  serviceRecord({ name, task: { image: 'x', restart: { condition: 'on-failure' } }, ...extra });

const assignedLive = (h: ReturnType<typeof harness>, svc: string, n: number) =>
  waitFor(
    () => {
      const l = h.live(svc);
      return l.length === n && l.every((t) => t.status.state === 'assigned') ? l : null;
    },
    { what: `${n} assigned tasks of ${svc}` },
  );

test('a replicated job runs its completions at most max-concurrent at a time and stops when all completed', async () => {
  const h = harness([nodeRecord('a'), nodeRecord('b')]);
  h.put(job('batch', { mode: 'replicated-job', replicas: 3, maxConcurrent: 2 }));
  const first = await assignedLive(h, 'batch', 2);
  assert.deepEqual(first.map((t) => t.slot).sort(), [1, 2]);
  await h.settled();
  assert.equal(h.live('batch').length, 2, 'a third task waits for a free place');
  h.report(first[0]!, 'complete');
  const third = await waitFor(() => h.live('batch').find((t) => t.slot === 3), {
    what: 'slot 3 started once slot 1 completed',
  });
  assert.equal(h.live('batch').length, 2);
  h.report(first[1]!, 'complete');
  h.report(third, 'complete');
  await h.settled();
  const all = h.tasks('batch');
  assert.equal(all.length, 3, 'a completed task is not replaced');
  assert.ok(all.every((t) => t.status.state === 'complete'));
  const view = serviceView(h.store, h.store.service('svc-batch')!);
  assert.equal(replicasText(view.replicas), '0/0 (3/3 completed)');
  h.stop();
});

test('a failed job task is retried in its slot by the restart policy, until its attempts run out', async () => {
  const h = harness([nodeRecord('a')]);
  h.put(
    serviceRecord({
      name: 'flaky',
      mode: 'replicated-job',
      replicas: 1,
      task: { image: 'x', restart: { condition: 'on-failure', delayMs: 2000, maxAttempts: 1 } },
    }),
  );
  const [t1] = await assignedLive(h, 'flaky', 1);
  h.report(t1!, 'failed');
  const t2 = await waitFor(() => h.live('flaky').find((t) => t.id !== t1!.id), {
    what: 'a retry',
  });
  assert.equal(t2.slot, 1);
  assert.equal(t2.notBefore, h.clock.now() + 2000, 'the retry waits the restart delay');
  h.report((await assignedLive(h, 'flaky', 1))[0]!, 'failed');
  await h.settled();
  assert.equal(
    h.live('flaky').length,
    0,
    'one restart attempt allowed, then the slot stays failed',
  );
  assert.equal(h.tasks('flaky').length, 2);
  h.stop();
});

test('a global job runs once per node, on a node that joins later too, and not again after a leader change', async () => {
  const h = harness([nodeRecord('a'), nodeRecord('b')]);
  h.put(job('setup', { mode: 'global-job' }));
  const first = await assignedLive(h, 'setup', 2);
  assert.deepEqual(first.map((t) => t.nodeId).sort(), ['a', 'b']);
  for (const t of first) h.report(t, 'complete');
  h.store.apply({ commands: [{ type: 'node.put', node: nodeRecord('c') }] });
  const [late] = await assignedLive(h, 'setup', 1);
  assert.equal(late!.nodeId, 'c');
  h.report(late!, 'complete');
  // A new leader starts its controllers from the store alone.
  h.stepDown();
  h.lead();
  await h.settled();
  h.stepDown();
  h.lead();
  h.store.apply({ commands: [{ type: 'node.put', node: { ...nodeRecord('c'), updatedAt: 5 } }] });
  await h.settled();
  const all = h.tasks('setup');
  assert.equal(all.length, 3, 'one task per node, ever');
  assert.deepEqual(all.map((t) => t.nodeId).sort(), ['a', 'b', 'c']);
  assert.ok(all.every((t) => t.status.state === 'complete'));
  h.stop();
});

test('a new spec version of a job runs it again; the updater does not roll it', async () => {
  const h = harness([nodeRecord('a')]);
  const s = job('again', { mode: 'replicated-job', replicas: 2 });
  h.put(s);
  for (const t of await assignedLive(h, 'again', 2)) h.report(t, 'complete');
  await h.settled();
  h.put({ ...s, specVersion: 2, lastSpecVersion: 2, updatedAt: 1 });
  const rerun = await assignedLive(h, 'again', 2);
  assert.ok(rerun.every((t) => t.specVersion === 2));
  assert.equal(h.store.service('svc-again')!.updateStatus, undefined, 'no rolling update');
  for (const t of rerun) h.report(t, 'complete');
  await h.settled();
  assert.equal(h.tasks('again').length, 4);
  h.stop();
});
