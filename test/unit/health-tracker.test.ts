// Node liveness: missed heartbeats and dropped connections mark a node down, except while its agent switches releases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HealthTracker, SWITCH_HOLD_MS, switchHoldMs } from '../../manager/dispatcher/health.js';

const PERIOD = 1_000;

test('three missed periods, or one period after a dropped connection, mark a node down', () => {
  const h = new HealthTracker(PERIOD);
  h.beat('n1', 0);
  assert.equal(h.check('n1', 2_999), null);
  assert.match(h.check('n1', 3_000)?.message ?? '', /no heartbeat for 3s/);
  h.beat('n2', 0);
  h.disconnected('n2', 100);
  assert.equal(h.check('n2', 1_099), null);
  assert.equal(h.check('n2', 1_100)?.message, 'connection lost');
});

test('a node whose agent says it is switching releases stays up while it restarts, until the hold ends', () => {
  const h = new HealthTracker(PERIOD);
  h.beat('n1', 0, switchHoldMs({ upgrade: { state: 'switching' } }));
  h.beat('n1', 500); // a heartbeat leaves the hold as it is
  h.disconnected('n1', 600);
  assert.equal(h.check('n1', 30_000), null, 'disconnected and silent, but held');
  assert.notEqual(h.check('n1', SWITCH_HOLD_MS), null, 'down once the hold is over');
  h.beat('n2', 0, switchHoldMs({ upgrade: { state: 'switching' } }));
  h.beat('n2', 100, switchHoldMs({})); // the new agent's first status: no longer switching
  h.disconnected('n2', 200);
  assert.equal(h.check('n2', 1_200)?.message, 'connection lost');
  assert.equal(switchHoldMs(undefined), undefined, 'a status without node facts says nothing');
});
