// The CLI's side of jobs: the spec its flags build, and when following a job is over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceDetail, TaskView } from '../../shared/api.js';
import { buildSpec } from '../../manager/cli/service/spec.js';
import { jobProgress } from '../../manager/cli/service/job-progress.js';

test('a job restarts on failure unless told otherwise; its flags are checked', () => {
  const spec = buildSpec({
    name: 'j',
    image: 'x',
    mode: 'replicated-job',
    replicas: 3,
    maxConcurrent: 2,
  });
  assert.equal(spec.mode, 'replicated-job');
  assert.equal(spec.replicas, 3);
  assert.equal(spec.maxConcurrent, 2);
  assert.equal(spec.task.restart.condition, 'on-failure');
  assert.equal(buildSpec({ name: 's', image: 'x' }).task.restart.condition, 'any');
  assert.throws(
    () => buildSpec({ name: 'j', image: 'x', maxConcurrent: 2 }),
    /--max-concurrent can only be used with --mode replicated-job/,
  );
  assert.throws(
    () => buildSpec({ name: 'j', image: 'x', mode: 'global-job', replicas: 2 }),
    /--replicas can only be used/,
  );
  assert.throws(
    () => buildSpec({ name: 'j', image: 'x', mode: 'global-job', restartCondition: 'any' }),
    /restart-condition any/,
  );
});

const detail = (mode: 'replicated-job' | 'global-job', replicas = 1) =>
  ({ mode, specVersion: 1, spec: { replicas } }) as unknown as ServiceDetail;

let seq = 0;
const task = (state: string, slot: number, node: string, desiredState = 'running'): TaskView =>
  ({
    id: `t${++seq}`,
    name: `j.${slot}`,
    service: 'j',
    slot,
    node,
    nodeName: node,
    specVersion: 1,
    desiredState,
    state,
    message: state,
    error: null,
    health: 'none',
    updatedAt: new Date(seq * 1000).toISOString(),
  }) as TaskView;

test('following a job ends when every completion is complete, and not while one runs', () => {
  const d = detail('replicated-job', 2);
  assert.equal(
    jobProgress(d, [task('complete', 1, 'a'), task('running', 2, 'b')]).converged,
    false,
  );
  const done = jobProgress(d, [task('complete', 1, 'a'), task('complete', 2, 'b')]);
  assert.equal(done.converged, true);
  assert.equal(done.lines.get('overall'), 'job progress: 2 out of 2 tasks complete');
});

test('a global job with no task yet has not converged; one per node complete has', () => {
  assert.equal(jobProgress(detail('global-job'), []).converged, false);
  const p = jobProgress(detail('global-job'), [task('complete', 0, 'a'), task('complete', 0, 'b')]);
  assert.equal(p.converged, true);
  assert.equal(p.desired, 2);
});

test('a job with nothing left trying and completions missing has failed', () => {
  const d = detail('replicated-job', 2);
  const p = jobProgress(d, [task('complete', 1, 'a'), task('failed', 2, 'b')]);
  assert.equal(p.failed, true);
  assert.equal(p.converged, false);
  const retrying = jobProgress(d, [
    task('complete', 1, 'a'),
    task('failed', 2, 'b', 'shutdown'),
    task('assigned', 2, 'b'),
  ]);
  assert.equal(retrying.failed, false);
});
