// The rate-limited log: one line per key per interval, with the count of the lines it held back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../shared/clock.js';
import { memoryLogger } from '../../shared/log.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';

/** The JSON lines a memory logger holds, parsed. */
const entries = (lines: string[]): Record<string, unknown>[] =>
  lines.map((l) => JSON.parse(l) as Record<string, unknown>);

test('a repeated complaint is logged once per interval, then with the count held back', () => {
  const logger = memoryLogger();
  const clock = new FakeClock();
  const log = new RateLimitedLog(logger, 5_000, clock);
  for (let i = 0; i < 4; i++) log.warn('bad-payload', 'dropped a payload', { from: 'n1' });
  clock.advance(4_999);
  log.warn('bad-payload', 'dropped a payload', { from: 'n1' });
  assert.equal(logger.lines.length, 1);
  clock.advance(1);
  log.warn('bad-payload', 'dropped a payload', { from: 'n2' });
  const [first, second] = entries(logger.lines);
  assert.equal(logger.lines.length, 2);
  assert.equal(first?.from, 'n1');
  assert.equal(first?.suppressedSinceLast, undefined);
  assert.equal(second?.from, 'n2');
  assert.equal(second?.suppressedSinceLast, 4);
});

test('keys are limited apart, and each line keeps its level', () => {
  const logger = memoryLogger();
  const log = new RateLimitedLog(logger, 5_000, new FakeClock());
  log.warn('a', 'first', {});
  log.error('b', 'second', {});
  log.warn('a', 'first again', {});
  assert.deepEqual(
    entries(logger.lines).map((e) => [e.level, e.msg]),
    [
      ['warn', 'first'],
      ['error', 'second'],
    ],
  );
});
