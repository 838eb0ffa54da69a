// The ingress backend pool: least-conn and round-robin choice, local preference, draining and failed-connect cooldown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendPool, type Backend, type Closable } from '../../agent/ingress/backends.js';
import { FakeClock } from '../../shared/clock.js';

const backend = (id: string, local = false): Backend => ({ id, host: '127.0.0.2', port: 1, local });
const conn = (): Closable & { closed: boolean } => {
  const c = { closed: false, close: () => void (c.closed = true) };
  return c;
};

test('least-conn picks the backend with the fewest open connections', () => {
  const pool = new BackendPool({ balance: 'least-conn', drainMs: 1000 });
  pool.set([backend('a'), backend('b')]);
  const first = pool.pick();
  assert.ok(first);
  pool.acquire(first, conn());
  for (let i = 0; i < 5; i++) assert.notEqual(pool.pick(), first);
});

test('least-conn ties and round robin both rotate over the backends', () => {
  for (const balance of ['least-conn', 'round-robin'] as const) {
    const pool = new BackendPool({ balance, drainMs: 1000 });
    pool.set([backend('a'), backend('b'), backend('c')]);
    const ids = Array.from({ length: 6 }, () => pool.pick()?.backend.id);
    assert.deepEqual([...new Set(ids)].sort(), ['a', 'b', 'c'], balance);
  }
});

test('local backends are the only candidates while any is live and serving', () => {
  const pool = new BackendPool({ balance: 'round-robin', drainMs: 1000 });
  pool.set([backend('a'), backend('b', true)]);
  for (let i = 0; i < 4; i++) assert.equal(pool.pick()?.backend.id, 'b');
  pool.set([backend('a')]);
  assert.equal(pool.pick()?.backend.id, 'a');
});

test('a local backend that refused is failed over to other nodes, and they take it while it cools', () => {
  const pool = new BackendPool({ balance: 'least-conn', drainMs: 1000 });
  pool.set([backend('remote1'), backend('remote2'), backend('local', true)]);
  const local = [...pool.states()].find((s) => s.backend.id === 'local');
  assert.ok(local);
  assert.equal(pool.pick(), local);
  // Its connect failed: this connection moves on to another node's task.
  pool.failed(local, true);
  const next = pool.pick([local]);
  assert.ok(next && next.backend.id.startsWith('remote'));
  // While it cools down, new connections go to the other nodes first.
  for (let i = 0; i < 4; i++) assert.notEqual(pool.pick(), local);
  // Every other one tried: the cooling local one is the last resort.
  const others = [...pool.states()].filter((s) => s !== local);
  assert.equal(pool.pick(others), local);
  assert.equal(pool.pick([...others, local]), undefined);
});

test('a removed backend drains: no new picks, cut after drainMs, forgotten when empty', () => {
  const retired: string[] = [];
  const clock = new FakeClock();
  const pool = new BackendPool({
    balance: 'least-conn',
    drainMs: 20,
    onRetired: (s) => retired.push(s.backend.id),
    clock,
  });
  pool.set([backend('a')]);
  const a = pool.pick();
  assert.ok(a);
  const c = conn();
  pool.acquire(a, c);
  pool.set([backend('b')]);
  assert.equal(a.draining, true);
  assert.equal(pool.pick()?.backend.id, 'b');
  clock.advance(19);
  assert.equal(c.closed, false, 'open until drainMs has passed');
  clock.advance(1);
  assert.equal(c.closed, true);
  pool.release(a, c);
  assert.deepEqual(retired, ['a']);
  assert.deepEqual(
    [...pool.states()].map((s) => s.backend.id),
    ['b'],
  );
});

test('re-adding a draining backend makes it live again', () => {
  const pool = new BackendPool({ balance: 'least-conn', drainMs: 60_000 });
  pool.set([backend('a')]);
  const a = pool.pick();
  assert.ok(a);
  pool.acquire(a, conn());
  pool.set([]);
  assert.equal(pool.pick(), undefined);
  pool.set([backend('a')]);
  assert.equal(a.draining, false);
  assert.equal(pool.pick(), a);
  pool.clear();
});

test('a backend whose connect failed is tried last, and skipped once tried', () => {
  const pool = new BackendPool({ balance: 'round-robin', drainMs: 1000 });
  pool.set([backend('a'), backend('b')]);
  const all = [...pool.states()];
  const a = all.find((s) => s.backend.id === 'a');
  assert.ok(a);
  assert.equal(pool.failed(a, true), true);
  assert.equal(pool.failed(a, true), false); // still cooling down: not logged again
  for (let i = 0; i < 4; i++) assert.equal(pool.pick()?.backend.id, 'b');
  const b = all.find((s) => s.backend.id === 'b');
  assert.ok(b);
  assert.equal(pool.pick([b]), a);
  assert.equal(pool.pick([a, b]), undefined);
});

test('a backend whose connect failed is picked as usual again once its cooldown is over', () => {
  const clock = new FakeClock();
  const pool = new BackendPool({ balance: 'round-robin', drainMs: 1000, clock });
  pool.set([backend('a'), backend('b')]);
  const a = [...pool.states()].find((s) => s.backend.id === 'a');
  assert.ok(a);
  pool.failed(a, true);
  clock.advance(1_999);
  for (let i = 0; i < 4; i++) assert.equal(pool.pick()?.backend.id, 'b', 'still cooling down');
  clock.advance(1);
  const picks = Array.from({ length: 4 }, () => pool.pick()?.backend.id);
  assert.deepEqual([...new Set(picks)].sort(), ['a', 'b']);
  assert.equal(pool.failed(a, true), true, 'a new failure starts a new cooldown, logged again');
});
