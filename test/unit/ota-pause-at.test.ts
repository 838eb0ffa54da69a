// FLEET_OTA_PAUSE_AT: the step a supervisor stops itself at, read strictly (a misspelt step is an error, not ignored).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePauseAt } from '../../agent/ota/supervise-cli.js';

test('a step alone is its first time; STEP:N its N-th; unset or empty is none', () => {
  assert.deepEqual(parsePauseAt('trial-spawned'), { point: 'trial-spawned', nth: 1 });
  assert.deepEqual(parsePauseAt('state-written:3'), { point: 'state-written', nth: 3 });
  assert.equal(parsePauseAt(undefined), undefined);
  assert.equal(parsePauseAt(''), undefined);
});

test('an unknown step or a count that is not a positive integer is refused with the steps listed', () => {
  for (const bad of ['trial-spawnd', 'state-written:0', 'state-written:1.5', 'committed:2:3', ':1'])
    assert.throws(
      () => parsePauseAt(bad),
      /FLEET_OTA_PAUSE_AT must be STEP or STEP:N \(N from 1\), STEP one of state-written, .*committed; got/,
      bad,
    );
});
