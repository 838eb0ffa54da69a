// The usage sampler's rates, the reporter's pacing of summaries, and the leader's book of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageSampler } from '../../agent/observe/sampler.js';
import type { BoardReading } from '../../agent/observe/board.js';
import { StatusReporter } from '../../agent/reconcile/reporter.js';
import type { WorkloadUsage } from '../../agent/runtime/types.js';
import { FakeClock } from '../../shared/clock.js';
import { decode, encode, heartbeatSchema, topics } from '../../shared/protocol.js';
import type { UsageSummary } from '../../shared/usage.js';
import { UsageBook } from '../../manager/observe/usage-book.js';

function board(total: number, idle: number): BoardReading {
  return { cpu: { total, idle }, memUsed: 1, memTotal: 2, diskUsed: 3, diskTotal: 4, tempC: 50 };
}

test('the first sample is a baseline; the next gives rates over the clock time between', async () => {
  const clock = new FakeClock(0);
  let reading = board(1000, 800);
  let counters: WorkloadUsage[] = [
    { runtimeId: 'r1', cpuSeconds: 10, memBytes: 5_000, rxBytes: 7, txBytes: 8 },
  ];
  const asked: string[][] = [];
  const sampler = new UsageSampler({
    clock,
    board: () => Promise.resolve(reading),
    tasks: () => [
      { taskId: 't1', runtimeId: 'r1' },
      { taskId: 't2', runtimeId: 'r2' },
    ],
    usage: (ids) => {
      asked.push([...ids]);
      return Promise.resolve(counters);
    },
  });
  assert.equal(await sampler.sample(), undefined, 'no rate from one reading');
  clock.advance(2_000);
  reading = board(1400, 900);
  counters = [
    { runtimeId: 'r1', cpuSeconds: 11.5, memBytes: 6_000, rxBytes: 70, txBytes: 80 },
    { runtimeId: 'r2', cpuSeconds: 3, memBytes: 100, rxBytes: 0, txBytes: 0 },
  ];
  const s = await sampler.sample();
  assert.ok(s);
  assert.equal(s.at, 2_000);
  assert.equal(s.node.cpu, 0.75);
  assert.equal(s.node.tempC, 50);
  assert.deepEqual(s.tasks, [
    { id: 't1', cpu: 0.75, mem: 6_000, rx: 70, tx: 80 },
    // Started after the baseline: no rate yet.
    { id: 't2', cpu: 0, mem: 100, rx: 0, tx: 0 },
  ]);
  assert.deepEqual(asked, [
    ['r1', 'r2'],
    ['r1', 'r2'],
  ]);
});

test('without tasks the runtime is not asked', async () => {
  let asked = 0;
  const sampler = new UsageSampler({
    clock: new FakeClock(0),
    board: () => Promise.resolve(board(1, 1)),
    tasks: () => [],
    usage: () => {
      asked++;
      return Promise.resolve([]);
    },
  });
  await sampler.sample();
  assert.equal(asked, 0);
});

const SUMMARY: UsageSummary = {
  at: 1,
  node: { cpu: 0.5, memUsed: 1, memTotal: 2, diskUsed: 3, diskTotal: 4 },
  tasks: [{ id: 't1', cpu: 1.2, mem: 10, rx: 0, tx: 0 }],
};

function reporter(clock: FakeClock, statsMs: number | undefined) {
  const sent: Buffer[] = [];
  let calls = 0;
  const r = new StatusReporter({
    nodeId: 'n1',
    clock,
    random: () => 1 - Number.EPSILON,
    publish: (topic, payload) => (topic === topics.heartbeat('n1') ? sent.push(payload) > 0 : true),
    connected: () => true,
    info: () => undefined,
    tasks: () => new Map(),
    assignment: () => ({
      version: 1,
      heartbeatMs: 1_000,
      ...(statsMs === undefined ? {} : { statsMs }),
    }),
    diskFull: () => false,
    closing: () => false,
    // Like the sampler: the first call is a baseline.
    usage: () => Promise.resolve(calls++ === 0 ? undefined : { ...SUMMARY, at: clock.now() }),
    runtimeName: 'fake',
    address: '127.0.0.2',
  });
  const beats = () =>
    sent.map((p) => {
      const d = decode(heartbeatSchema, p);
      assert.ok(d.ok);
      return { ...d.value, bytes: p.length };
    });
  return { r, beats, calls: () => calls };
}

for (const statsMs of [undefined, 0]) {
  test(`no usage is sampled or sent when statsMs is ${String(statsMs)}`, async () => {
    const clock = new FakeClock(0);
    const { r, beats, calls } = reporter(clock, statsMs);
    r.startHeartbeats();
    await clock.advanceAsync(10_500);
    r.close();
    assert.ok(beats().length >= 10);
    assert.ok(beats().every((b) => b.usage === undefined));
    assert.equal(calls(), 0, 'nothing sampled');
    const plain = encode({ v: 1, seq: 10, ts: 10_000 }).length;
    assert.ok(
      beats().every((b) => b.bytes <= plain),
      'heartbeats as small as before',
    );
  });
}

test('usage goes out at most once per statsMs, after a baseline', async () => {
  const clock = new FakeClock(0);
  const { r, beats } = reporter(clock, 5_000);
  r.startHeartbeats();
  await clock.advanceAsync(20_500);
  r.close();
  const all = beats();
  const withUsage = all.filter((b) => b.usage);
  assert.ok(all.length >= 20, `heartbeats keep their pace (${all.length})`);
  // Baseline at 0, first summary at the next beat (1 s), then every 5 s: 1, 6, 11, 16.
  assert.deepEqual(
    withUsage.map((b) => b.ts),
    [1_000, 6_000, 11_000, 16_000],
  );
  for (let i = 1; i < withUsage.length; i++) {
    const gap = (withUsage[i]?.ts ?? 0) - (withUsage[i - 1]?.ts ?? 0);
    assert.ok(gap >= 5_000, `at most one per period (gap ${gap} ms)`);
  }
  assert.deepEqual(withUsage[0]?.usage?.tasks, SUMMARY.tasks);
});

test("the book keeps each node's latest summary, forgets nodes and hides stale figures", () => {
  const clock = new FakeClock(0);
  const book = new UsageBook(clock, 10_000);
  book.record('n1', SUMMARY);
  book.record('n2', { ...SUMMARY, tasks: [{ id: 't2', cpu: 0.1, mem: 1, rx: 2, tx: 3 }] });
  assert.equal(book.task('t1')?.nodeId, 'n1');
  book.record('n1', { ...SUMMARY, tasks: [] });
  assert.equal(book.task('t1'), undefined, "a newer summary replaces the node's tasks");
  book.forget('n2');
  assert.equal(book.node('n2'), undefined);
  assert.equal(book.task('t2'), undefined);
  assert.deepEqual(
    book.nodes().map((e) => e.nodeId),
    ['n1'],
  );
  clock.advance(10_001);
  assert.equal(book.node('n1'), undefined, 'too old to show');
  assert.deepEqual(book.nodes(), []);
  book.record('n1', SUMMARY);
  book.clear();
  assert.deepEqual(book.tasks(), []);
});
