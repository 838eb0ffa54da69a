// The fake clock: timers fire in due order, intervals repeat, sleeps resolve as time is advanced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, systemClock } from '../../shared/clock.js';

test('timers fire in order of due time and cleared ones never fire', () => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push('b'), 20);
  clock.setTimeout(() => fired.push('a'), 10);
  const c = clock.setTimeout(() => fired.push('c'), 15);
  clock.clearTimeout(c);
  clock.advance(9);
  assert.deepEqual(fired, []);
  clock.advance(11);
  assert.deepEqual(fired, ['a', 'b']);
  assert.equal(clock.now(), 20);
});

test('an interval fires once per period until cleared', () => {
  const clock = new FakeClock(0);
  const at: number[] = [];
  const h = clock.setInterval(() => at.push(clock.now()), 100);
  clock.advance(350);
  assert.deepEqual(at, [100, 200, 300]);
  clock.clearInterval(h);
  clock.advance(1_000);
  assert.equal(at.length, 3);
  assert.equal(clock.pending, 0);
});

test('advanceAsync lets a loop of awaited sleeps run through the advanced time', async () => {
  const clock = new FakeClock(0);
  const woke: number[] = [];
  const loop = (async () => {
    for (let i = 0; i < 5; i++) {
      await clock.sleep(10);
      woke.push(clock.now());
    }
  })();
  await clock.advanceAsync(35);
  assert.deepEqual(woke, [10, 20, 30]);
  await clock.advanceAsync(100);
  await loop;
  assert.deepEqual(woke, [10, 20, 30, 40, 50]);
});

test('the system clock sleeps on wall time and its interval can be cleared', async () => {
  // The clock's timers never hold the process open; this one does, for the test's length.
  const keepAlive = setTimeout(() => undefined, 10_000);
  const start = systemClock.now();
  await systemClock.sleep(20);
  assert.ok(systemClock.now() - start >= 15);
  let n = 0;
  const h = systemClock.setInterval(() => n++, 5);
  await systemClock.sleep(30);
  systemClock.clearInterval(h);
  const seen = n;
  assert.ok(seen >= 2, `interval fired ${seen} times in 30 ms`);
  await systemClock.sleep(20);
  assert.equal(n, seen);
  clearTimeout(keepAlive);
});
