// Rejection codes: the engine's refusals read into codes, carried from the agent's report to the task record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reasonOf } from '../../agent/runtime/docker/errors.js';
import { applyReport } from '../../manager/dispatcher/reports.js';
import { taskReportSchema } from '../../shared/protocol.js';
import { isPermanentReject } from '../../shared/reject-reasons.js';
import { newTask } from '../../manager/orchestrator/tasks.js';
import { serviceRecord } from '../helpers/records.js';

test('engine refusals map to codes; unknown ones have none', () => {
  assert.equal(reasonOf('exec /bin/sh: exec format error'), 'platform');
  assert.equal(
    reasonOf('error gathering device information while adding custom device "/dev/gpiomem"'),
    'missing-device',
  );
  assert.equal(
    reasonOf('exec: "nosuch": executable file not found in $PATH: unknown'),
    'missing-executable',
  );
  assert.equal(reasonOf('port is already allocated'), undefined);
});

test('only refusals a retry cannot cure are permanent', () => {
  assert.ok(isPermanentReject('image-unavailable'));
  assert.ok(isPermanentReject('platform'));
  assert.equal(isPermanentReject('resources'), false);
  assert.equal(isPermanentReject(undefined), false);
});

test("a report's reason code reaches the task's status; a report without one still validates", () => {
  const t = { ...newTask(serviceRecord({ name: 'a', task: { image: 'x' } }), 1, 'n', 0) };
  const assigned = { ...t, status: { ...t.status, state: 'assigned' as const } };
  const base = { taskId: t.id, state: 'rejected', error: 'image x is not available', at: 1 };
  const withCode = taskReportSchema.parse({ ...base, reasonCode: 'image-unavailable' });
  assert.equal(applyReport(assigned, withCode, 5)?.status.reasonCode, 'image-unavailable');
  const older = taskReportSchema.parse(base);
  assert.equal(applyReport(assigned, older, 5)?.status.reasonCode, undefined);
  assert.equal(taskReportSchema.safeParse({ ...base, reasonCode: 'bogus' }).success, false);
});
