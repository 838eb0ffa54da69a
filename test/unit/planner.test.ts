// The agent's pure planner: which steps reconcile desired tasks with observed workloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, type PlanInput } from '../../agent/reconcile/planner.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { taskTemplateSchema } from '../../shared/spec.js';
import type { ObservedWorkload } from '../../agent/runtime/types.js';

const template = taskTemplateSchema.parse({ image: 'img', restart: { delayMs: 1000 } });
const task = (id: string, notBefore = 0): AssignedTask => ({
  id,
  serviceId: 's',
  serviceName: 'web',
  slot: 1,
  template,
  notBefore,
});
const workload = (
  taskId: string,
  running: boolean,
  extra: Partial<ObservedWorkload> = {},
): ObservedWorkload => ({
  runtimeId: `c-${taskId}-${running}`,
  taskId,
  serviceName: 'web',
  slot: 1,
  nodeId: 'n',
  running,
  exitCode: running ? null : 1,
  startedAt: 1,
  finishedAt: running ? null : 500,
  hostPorts: [],
  ...extra,
});

function input(p: Partial<PlanInput>): PlanInput {
  return {
    desired: [],
    observed: [],
    local: new Map(),
    now: 1000,
    autonomous: false,
    mayRestartLocally: () => true,
    ...p,
  };
}

test('a desired task with no workload is started', () => {
  const r = plan(input({ desired: [task('a')] }));
  assert.deepEqual(
    r.steps.map((s) => s.kind),
    ['start'],
  );
});

test('a task whose restart delay has not passed waits and asks to be woken', () => {
  const r = plan(input({ desired: [task('a', 5000)] }));
  assert.equal(r.steps.length, 0);
  assert.equal(r.wakeAt, 5000);
});

test('a workload no longer assigned is removed; a duplicate too', () => {
  const r = plan(
    input({
      desired: [task('a')],
      observed: [workload('a', true), workload('a', false), workload('gone', true)],
    }),
  );
  const kinds = r.steps
    .map((s) => (s.kind === 'remove' ? `remove:${s.workload.taskId}` : s.kind))
    .sort();
  assert.deepEqual(kinds, ['adopt', 'remove:a', 'remove:gone']);
});

test('a running workload the agent already knows needs nothing: reconnecting restarts nothing', () => {
  const local = new Map([['a', { state: 'running' as const, lastExitAt: null }]]);
  const r = plan(input({ desired: [task('a')], observed: [workload('a', true)], local }));
  assert.deepEqual(r.steps, []);
});

test('an exited workload is recorded first, and restarted in place only while autonomous', () => {
  const first = plan(
    input({
      desired: [task('a')],
      observed: [workload('a', false)],
      local: new Map([['a', { state: 'running' as const, lastExitAt: null }]]),
    }),
  );
  assert.deepEqual(
    first.steps.map((s) => s.kind),
    ['exited'],
  );
  const ended = new Map([['a', { state: 'failed' as const, lastExitAt: 500 }]]);
  const connected = plan(
    input({ desired: [task('a')], observed: [workload('a', false)], local: ended }),
  );
  assert.deepEqual(connected.steps, [], 'the manager decides while connected');
  const alone = plan(
    input({
      desired: [task('a')],
      observed: [workload('a', false)],
      local: ended,
      autonomous: true,
      now: 1600,
    }),
  );
  assert.deepEqual(
    alone.steps.map((s) => s.kind),
    ['restart'],
  );
  const early = plan(
    input({
      desired: [task('a')],
      observed: [workload('a', false)],
      local: ended,
      autonomous: true,
      now: 1000,
    }),
  );
  assert.deepEqual(early.steps, []);
  assert.equal(early.wakeAt, 1500);
  const policyNo = plan(
    input({
      desired: [task('a')],
      observed: [workload('a', false)],
      local: ended,
      autonomous: true,
      now: 1600,
      mayRestartLocally: () => false,
    }),
  );
  assert.deepEqual(policyNo.steps, []);
});

test('a rejected task is not retried by the agent', () => {
  const local = new Map([['a', { state: 'rejected' as const, lastExitAt: 1 }]]);
  assert.deepEqual(plan(input({ desired: [task('a')], local })).steps, []);
});

test('health verdicts: a change is reported, an unhealthy task is failed once', () => {
  const running = (health?: 'none' | 'starting' | 'healthy' | 'unhealthy') =>
    new Map([['a', { state: 'running' as const, lastExitAt: null, health }]]);
  const kinds = (w: ObservedWorkload, local: PlanInput['local']): string[] =>
    plan(input({ desired: [task('a')], observed: [w], local })).steps.map((s) => s.kind);
  assert.deepEqual(kinds(workload('a', true, { health: 'starting' }), running('none')), ['health']);
  assert.deepEqual(kinds(workload('a', true, { health: 'healthy' }), running('starting')), [
    'health',
  ]);
  assert.deepEqual(kinds(workload('a', true, { health: 'healthy' }), running('healthy')), []);
  // A workload without a check reads as 'none': nothing to report.
  assert.deepEqual(kinds(workload('a', true), running('none')), []);
  assert.deepEqual(kinds(workload('a', true, { health: 'unhealthy' }), running('healthy')), [
    'unhealthy',
  ]);
  // Once failed for it, the stop in progress is left alone.
  const failed = new Map([
    ['a', { state: 'failed' as const, lastExitAt: 900, health: 'unhealthy' as const }],
  ]);
  assert.deepEqual(kinds(workload('a', true, { health: 'unhealthy' }), failed), []);
});

test('a workload listed while its start is under way is left to that start', () => {
  const created = workload('a', false, { exitCode: null, startedAt: null, finishedAt: null });
  for (const state of ['preparing', 'starting'] as const) {
    const r = plan(
      input({
        desired: [task('a')],
        observed: [created],
        local: new Map([['a', { state, lastExitAt: null }]]),
      }),
    );
    assert.deepEqual(r.steps, [], `nothing while ${state}`);
  }
});
