// The restart policy decision shared by manager and agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideRestart, nextHistory } from '../../shared/restart-policy.js';
import { restartPolicySchema } from '../../shared/spec.js';

const policy = (p: object) => restartPolicySchema.parse(p);

test('condition none never restarts; on-failure skips completed tasks', () => {
  assert.equal(decideRestart(policy({ condition: 'none' }), 'failed', [], 0).restart, false);
  assert.equal(
    decideRestart(policy({ condition: 'on-failure' }), 'complete', [], 0).restart,
    false,
  );
  assert.equal(decideRestart(policy({ condition: 'on-failure' }), 'failed', [], 0).restart, true);
  assert.equal(decideRestart(policy({ condition: 'any' }), 'complete', [], 0).restart, true);
});

test('max attempts count only restarts inside the window', () => {
  const p = policy({ maxAttempts: 2, windowMs: 10_000 });
  assert.equal(decideRestart(p, 'failed', [1000, 2000], 5000).restart, false);
  assert.equal(
    decideRestart(p, 'failed', [1000, 2000], 11_500).restart,
    true,
    'first restart left the window',
  );
  assert.deepEqual(nextHistory(p, [1000, 2000], 11_500), [2000, 11_500]);
});

test('the delay is honoured and grows for tasks that keep being rejected', () => {
  const p = policy({ delayMs: 1000 });
  assert.deepEqual(decideRestart(p, 'failed', [], 0), { restart: true, delayMs: 1000 });
  assert.deepEqual(decideRestart(p, 'rejected', [], 0, 3), { restart: true, delayMs: 4000 });
  assert.deepEqual(decideRestart(p, 'rejected', [], 0, 30), { restart: true, delayMs: 60_000 });
});
