// The simulation's own machinery: the checkers must reject broken histories, and the PRNG and network must be deterministic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLinearizable, SafetyChecker, type HistoryOp } from './checker.js';
import { Prng } from './prng.js';
import { SimNetwork } from './network.js';
import type { Message } from '../../manager/raft/core/types.js';

let t = 0;
function op(
  client: number,
  kind: 'put' | 'get',
  value: string | null,
  call: number,
  ret: number,
  status: HistoryOp['status'] = 'ok',
): HistoryOp {
  return { client, kind, key: 'k', value, call, ret, status };
}

test('linearizability: sequential and concurrent histories that are fine pass', () => {
  const seq = [
    op(1, 'put', 'a', 1, 2),
    op(2, 'get', 'a', 3, 4),
    op(1, 'put', 'b', 5, 6),
    op(2, 'get', 'b', 7, 8),
  ];
  assert.equal(checkLinearizable(seq).ok, true);
  // A read overlapping a write may see either value.
  const overlap = [
    op(1, 'put', 'a', 1, 2),
    op(1, 'put', 'b', 3, 6),
    op(2, 'get', 'a', 4, 5),
    op(3, 'get', 'b', 4, 7),
  ];
  assert.equal(checkLinearizable(overlap).ok, true);
  assert.equal(checkLinearizable([op(1, 'get', null, 1, 2)]).ok, true);
});

test('linearizability: a stale read is caught', () => {
  const h = [op(1, 'put', 'a', 1, 2), op(1, 'put', 'b', 3, 4), op(2, 'get', 'a', 5, 6)];
  const r = checkLinearizable(h);
  assert.equal(r.ok, false);
  assert.equal(r.key, 'k');
  assert.match(r.explanation ?? '', /not linearizable/);
});

test('linearizability: a lost acknowledged write is caught', () => {
  const h = [op(1, 'put', 'a', 1, 2), op(2, 'get', null, 3, 4)];
  assert.equal(checkLinearizable(h).ok, false);
  // Reads that go back in time across two readers.
  const h2 = [op(1, 'put', 'a', 1, 10), op(2, 'get', 'a', 2, 3), op(3, 'get', null, 4, 5)];
  assert.equal(checkLinearizable(h2).ok, false);
});

test('linearizability: unknown writes may take effect late or never', () => {
  const late = [
    op(1, 'put', 'a', 1, 0, 'unknown'),
    op(2, 'get', null, 5, 6),
    op(2, 'get', 'a', 7, 8),
  ];
  assert.equal(checkLinearizable(late).ok, true);
  const never = [op(1, 'put', 'a', 1, 0, 'unknown'), op(2, 'get', null, 5, 6)];
  assert.equal(checkLinearizable(never).ok, true);
  // But not before it was invoked.
  const early = [op(2, 'get', 'a', 1, 2), op(1, 'put', 'a', 3, 0, 'unknown')];
  assert.equal(checkLinearizable(early).ok, false);
  // And a failed write never takes effect.
  const failed = [op(1, 'put', 'a', 1, 2, 'failed'), op(2, 'get', 'a', 3, 4)];
  assert.equal(checkLinearizable(failed).ok, false);
});

test('linearizability: keys are checked independently', () => {
  const h: HistoryOp[] = [
    { ...op(1, 'put', 'a', 1, 2), key: 'x' },
    { ...op(2, 'get', null, 3, 4), key: 'y' },
    { ...op(2, 'get', 'a', 5, 6), key: 'x' },
  ];
  assert.equal(checkLinearizable(h).ok, true);
  h.push({ ...op(3, 'get', 'a', 7, 8), key: 'y' });
  const r = checkLinearizable(h);
  assert.equal(r.ok, false);
  assert.equal(r.key, 'y');
});

test('linearizability: a wide concurrent history stays tractable', () => {
  const h: HistoryOp[] = [];
  t = 0;
  for (let i = 0; i < 60; i++) {
    const call = ++t;
    h.push(
      op(i % 4, 'put', `v${i}`, call, i % 7 === 0 ? 0 : call + 6, i % 7 === 0 ? 'unknown' : 'ok'),
    );
  }
  h.push(op(9, 'get', 'v59', ++t + 10, t + 12));
  assert.equal(checkLinearizable(h).ok, true);
});

test('safety checker: two leaders in one term', () => {
  const c = new SafetyChecker();
  c.observeLeader('a', 1);
  c.observeLeader('b', 2);
  c.observeLeader('a', 1);
  assert.deepEqual(c.violations, []);
  c.observeLeader('b', 1);
  assert.match(c.violations[0] ?? '', /election safety/);
});

test('safety checker: log matching', () => {
  const c = new SafetyChecker();
  const e = (index: number, term: number, data = '') => ({
    index,
    term,
    type: 'normal' as const,
    data,
  });
  c.observeLog('a', 0, [e(1, 1, 'x=1'), e(2, 1, 'x=2'), e(3, 2)]);
  c.observeLog('b', 0, [e(1, 1, 'x=1'), e(2, 1, 'x=2')]);
  c.observeLog('b', 1, [e(3, 2)]);
  assert.deepEqual(c.violations, []);
  c.observeLog('c', 1, [e(2, 1, 'x=3')]);
  assert.match(c.violations[0] ?? '', /log matching/);
  const d = new SafetyChecker();
  d.observeLog('a', 1, [e(3, 2)]);
  d.observeLog('b', 2, [e(3, 2)]);
  assert.match(d.violations[0] ?? '', /log matching/);
});

test('safety checker: state machine safety and leader completeness', () => {
  const c = new SafetyChecker();
  const e = (index: number, term: number, data = '') => ({
    index,
    term,
    type: 'normal' as const,
    data,
  });
  c.observeApply('a', e(1, 1, 'x=1'));
  c.observeApply('b', e(1, 1, 'x=1'));
  c.observeNewLeader('b', 2, 0, (i) => (i === 1 ? 1 : undefined));
  assert.deepEqual(c.violations, []);
  c.observeNewLeader('c', 3, 0, () => undefined);
  assert.match(c.violations[0] ?? '', /leader completeness/);
  c.observeApply('c', e(1, 2, 'x=9'));
  assert.match(c.violations[1] ?? '', /state machine safety/);
});

test('prng: same seed, same stream; different seeds differ', () => {
  const a = new Prng(42);
  const b = new Prng(42);
  const c = new Prng(43);
  const xs = Array.from({ length: 100 }, () => a.next());
  assert.deepEqual(
    xs,
    Array.from({ length: 100 }, () => b.next()),
  );
  assert.notDeepEqual(
    xs,
    Array.from({ length: 100 }, () => c.next()),
  );
  for (const x of xs) assert.ok(x >= 0 && x < 1);
  const r = new Prng(7);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[r.int(4)]!++;
  for (const n of counts) assert.ok(n > 850 && n < 1150, `skewed: ${counts.join(',')}`);
});

test('network: delays, duplicates, partitions and determinism', () => {
  const msg = (from: string, to: string, term: number): Message => ({
    type: 'heartbeat',
    from,
    to,
    term,
  });
  const run = (seed: number) => {
    const net = new SimNetwork(
      { loss: 0.2, duplicate: 0.2, minDelay: 0, maxDelay: 3 },
      new Prng(seed),
    );
    const out: string[] = [];
    for (let now = 0; now < 50; now++) {
      if (now === 20) net.isolate('b');
      if (now === 30) net.heal();
      net.send(msg('a', 'b', now), now);
      net.send(msg('b', 'a', now), now);
      for (let d = net.next(now); d !== undefined; d = net.next(now)) {
        out.push(`${now}:${d.msg.from}${d.msg.term}${d.cut ? 'x' : ''}`);
      }
    }
    return { out, net };
  };
  const one = run(1);
  assert.deepEqual(one.out, run(1).out);
  assert.notDeepEqual(one.out, run(2).out);
  assert.ok(one.net.dropped > 0 && one.net.delivered > 0);
  // Nothing sent while b was isolated is delivered; messages arrive out of order sometimes.
  for (const line of one.out) {
    const [, rest] = line.split(':') as [string, string];
    const term = Number(rest.slice(1).replace('x', ''));
    if (term >= 20 && term < 30)
      assert.ok(rest.endsWith('x') || false, `delivered across the partition: ${line}`);
  }
  const terms = one.out
    .filter((l) => l.includes(':a'))
    .map((l) => Number(l.split(':a')[1]?.replace('x', '')));
  assert.ok(
    terms.some((x, i) => i > 0 && x < (terms[i - 1] ?? 0)),
    'no reordering happened',
  );
});
