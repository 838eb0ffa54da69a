// Bounded concurrency: Slots and runLimited keep to their limit, keep order and report idleness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runLimited, Slots } from '../../shared/limit.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('Slots runs at most its limit at once, the rest in arrival order, each as a slot frees', async () => {
  const slots = new Slots(2);
  const release = new Map<number, () => void>();
  const started: number[] = [];
  let running = 0;
  let most = 0;
  const jobs = [1, 2, 3, 4, 5].map((n) =>
    slots.run(async () => {
      started.push(n);
      most = Math.max(most, ++running);
      await new Promise<void>((r) => release.set(n, r));
      running--;
    }),
  );
  await tick();
  assert.deepEqual(started, [1, 2]);
  release.get(2)?.();
  await tick();
  assert.deepEqual(started, [1, 2, 3], 'one slot freed: one more starts, not a batch');
  for (const n of [1, 3, 4, 5]) {
    release.get(n)?.();
    await tick();
  }
  await Promise.all(jobs);
  assert.deepEqual(started, [1, 2, 3, 4, 5]);
  assert.equal(most, 2);
});

test('Slots.idle waits for every job, a failed one included', async () => {
  const slots = new Slots(1);
  assert.equal(
    await Promise.race([slots.idle().then(() => 'idle'), tick().then(() => 'busy')]),
    'idle',
  );
  let finish: () => void = () => undefined;
  const a = slots.run(() => new Promise<void>((r) => (finish = r)));
  const b = slots.run(() => Promise.reject(new Error('boom')));
  let idle = false;
  void slots.idle().then(() => (idle = true));
  await tick();
  assert.equal(idle, false);
  finish();
  await a;
  await assert.rejects(b, /boom/);
  await tick();
  assert.equal(idle, true);
});

test('runLimited visits every item with at most limit at once', async () => {
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  await runLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    most = Math.max(most, ++running);
    await tick();
    seen.push(n);
    running--;
  });
  assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(most, 3);
});
