// The Docker runtime's join/leave gate: joins side by side, a leave alone and then a pause, nothing lost on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JoinLeaveGate } from '../../agent/runtime/docker/join-leave-gate.js';
import { FakeClock } from '../../shared/clock.js';

/** A step that records when it starts and ends, and ends when told. */
function step(log: string[], name: string) {
  let finish: () => void = () => undefined;
  const done = new Promise<void>((r) => (finish = r));
  return {
    run: async () => {
      log.push(`${name} start`);
      await done;
      log.push(`${name} end`);
      return name;
    },
    finish: () => finish(),
  };
}

const settle = () => new Promise((r) => setImmediate(r));

test('joins run together; a leave waits for them, runs alone, then pauses before the next join', async () => {
  const clock = new FakeClock();
  const gate = new JoinLeaveGate(clock, 100);
  const log: string[] = [];
  const [j1, j2, l1, j3] = ['j1', 'j2', 'l1', 'j3'].map((n) => step(log, n)) as [
    ReturnType<typeof step>,
    ReturnType<typeof step>,
    ReturnType<typeof step>,
    ReturnType<typeof step>,
  ];
  const p1 = gate.join(j1.run);
  const p2 = gate.join(j2.run);
  await settle();
  assert.deepEqual(log, ['j1 start', 'j2 start']);
  const pl = gate.leave(l1.run);
  const p3 = gate.join(j3.run);
  await settle();
  assert.deepEqual(
    log,
    ['j1 start', 'j2 start'],
    'the leave waits for the joins, j3 for the leave',
  );
  j1.finish();
  j2.finish();
  await settle();
  assert.deepEqual(log.slice(2), ['j1 end', 'j2 end', 'l1 start']);
  l1.finish();
  assert.equal(await pl, 'l1');
  await settle();
  assert.ok(!log.includes('j3 start'), 'j3 waits out the pause');
  await clock.advanceAsync(100);
  await settle();
  assert.ok(log.includes('j3 start'));
  j3.finish();
  assert.deepEqual(await Promise.all([p1, p2, p3]), ['j1', 'j2', 'j3']);
});

test('a failed leave still frees the gate, after its pause', async () => {
  const clock = new FakeClock();
  const gate = new JoinLeaveGate(clock, 50);
  const failed = gate.leave(() => Promise.reject(new Error('gone')));
  const next = gate.join(() => Promise.resolve('ran'));
  await settle();
  await clock.advanceAsync(50);
  await assert.rejects(failed, /gone/);
  assert.equal(await next, 'ran');
});
