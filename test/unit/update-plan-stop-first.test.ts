// A stop-first update stays in flight between the old task stopping and its replacement appearing, so a failing replacement pauses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newTask } from '../../manager/orchestrator/tasks.js';
import { planUpdate } from '../../manager/updater/plan.js';
import type { ServiceRecord, TaskRecord } from '../../shared/spec.js';
import { serviceRecord } from '../helpers/records.js';

function runningTask(service: ServiceRecord, now: number): TaskRecord {
  const t = newTask(service, 1, 'node-a', now);
  return { ...t, status: { ...t.status, state: 'running', message: 'started', readyAt: now } };
}

test('a stop-first update whose old task stopped before its replacement exists is not completed, and pauses when the replacement is rejected', () => {
  const v1 = serviceRecord({ name: 'web', replicas: 1, task: { image: 'web:1' } });
  const old = runningTask(v1, 0);
  const v2: ServiceRecord = {
    ...v1,
    spec: { ...v1.spec, task: { ...v1.spec.task, image: 'web:2' } },
    specVersion: 2,
    previousSpec: v1.spec,
    previousSpecVersion: 1,
  };

  const start = planUpdate(v2, [old], 1_000);
  assert.equal(start.service?.updateStatus?.state, 'updating');
  const stopping = start.tasks.find((t) => t.id === old.id);
  assert.equal(stopping?.desiredState, 'shutdown', 'stop-first stops the old task first');
  const updating = start.service ?? v2;

  // The agent reports the old task stopped; the orchestrator has not refilled the slot yet.
  assert.ok(stopping);
  const stopped: TaskRecord = {
    ...stopping,
    status: { ...stopping.status, state: 'shutdown', message: 'stopped', at: 1_200 },
    updatedAt: 1_200,
  };
  const gap = planUpdate(updating, [stopped], 1_200);
  assert.notEqual(
    (gap.service ?? updating).updateStatus?.state,
    'completed',
    'the update waits for the replacement',
  );

  // The replacement cannot get its image on the board: rejected.
  const fresh = newTask(updating, 1, 'node-a', 1_300);
  const rejected: TaskRecord = {
    ...fresh,
    status: {
      ...fresh.status,
      state: 'rejected',
      message: 'rejected',
      error: 'image web:2 is not available: disk full while storing sha256:…',
      at: 1_500,
    },
    updatedAt: 1_500,
  };
  const after = planUpdate(gap.service ?? updating, [stopped, rejected], 1_500);
  const status = after.service?.updateStatus;
  assert.equal(status?.state, 'paused');
  assert.match(
    status?.message ?? '',
    /^update paused: task web\.1 was rejected: image web:2 is not available: disk full/,
  );
});
