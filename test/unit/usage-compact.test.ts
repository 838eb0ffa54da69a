// The compact form of usage summaries: what it keeps, how small it is, and who sends and reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusReporter } from '../../agent/reconcile/reporter.js';
import { FakeClock } from '../../shared/clock.js';
import { decode, encode, heartbeatSchema, topics } from '../../shared/protocol.js';
import { compactUsage, expandUsage } from '../../shared/usage-compact.js';
import type { UsageSummary } from '../../shared/usage.js';

const summary = (tasks: number): UsageSummary => ({
  at: 1_765_113_601_123,
  node: {
    cpu: 0.463,
    memUsed: 1_689_647_500,
    memTotal: 3_978_493_952,
    diskUsed: 6_000_123_456,
    diskTotal: 31_104_323_584,
    tempC: 52.312,
    underVoltage: false,
    throttled: true,
  },
  tasks: Array.from({ length: tasks }, (_v, i) => ({
    id: `task${i}abcdefghijklmnop`.slice(0, 20),
    cpu: (12 * (i + 1)) / 1000,
    mem: 83_456_789 + i,
    rx: 123_456_789 * (i + 1),
    tx: 9_876_543,
  })),
});

test('the compact form keeps cpu to a thousandth, memory to a KiB, disks to a MiB, network exact', () => {
  const s = summary(3);
  const back = expandUsage(compactUsage(s));
  assert.equal(back.at, s.at);
  assert.equal(back.node.cpu, s.node.cpu);
  assert.ok(Math.abs(back.node.memUsed - s.node.memUsed) <= 512);
  assert.ok(Math.abs(back.node.diskTotal - s.node.diskTotal) <= 512 * 1024);
  assert.equal(back.node.tempC, 52.3);
  assert.equal(back.node.underVoltage, false);
  assert.equal(back.node.throttled, true);
  assert.deepEqual(
    back.tasks.map((t) => [t.id, t.cpu, t.rx, t.tx]),
    s.tasks.map((t) => [t.id, t.cpu, t.rx, t.tx]),
  );
  assert.ok(back.tasks.every((t, i) => Math.abs(t.mem - (s.tasks[i]?.mem ?? 0)) <= 512));
  const bare = { ...s, node: { ...s.node, tempC: undefined, underVoltage: undefined } };
  delete bare.node.tempC;
  delete bare.node.underVoltage;
  delete bare.node.throttled;
  assert.deepEqual(Object.keys(expandUsage(compactUsage(bare)).node).sort(), [
    'cpu',
    'diskTotal',
    'diskUsed',
    'memTotal',
    'memUsed',
  ]);
});

test('a board with five tasks sends at most 512 bytes per summary in the compact form, half the full one', () => {
  const s = summary(5);
  const full = encode({ usage: s }).length;
  const compact = encode({ u: compactUsage(s) }).length;
  assert.ok(compact <= 512, `compact ${compact} bytes`);
  assert.ok(compact * 2 <= full + 60, `compact ${compact} vs full ${full}`);
});

test('a heartbeat decodes to the same usage from either form; a bad compact form is refused', () => {
  const s = summary(2);
  const fromFull = decode(heartbeatSchema, encode({ v: 1, seq: 1, ts: 2, usage: s }));
  const fromCompact = decode(heartbeatSchema, encode({ v: 1, seq: 1, ts: 2, u: compactUsage(s) }));
  assert.ok(fromFull.ok && fromCompact.ok);
  assert.deepEqual(fromCompact.value.usage, expandUsage(compactUsage(s)));
  assert.ok(!('u' in fromCompact.value));
  const bad = decode(heartbeatSchema, encode({ v: 1, seq: 1, ts: 2, u: { t: 1, n: [1], k: [] } }));
  assert.equal(bad.ok, false);
});

for (const statsCompact of [true, undefined]) {
  test(`the agent sends the ${statsCompact ? 'compact' : 'full'} form when the manager ${statsCompact ? 'asks for it' : 'does not say'}`, async () => {
    const clock = new FakeClock(0);
    const sent: Buffer[] = [];
    let calls = 0;
    const r = new StatusReporter({
      nodeId: 'n1',
      clock,
      random: () => 1 - Number.EPSILON,
      publish: (topic, p) => (topic === topics.heartbeat('n1') ? sent.push(p) > 0 : true),
      connected: () => true,
      info: () => undefined,
      tasks: () => new Map(),
      assignment: () => ({ version: 1, heartbeatMs: 1_000, statsMs: 1_000, statsCompact }),
      diskFull: () => false,
      closing: () => false,
      usage: () => Promise.resolve(calls++ === 0 ? undefined : summary(1)),
      runtimeName: 'fake',
      address: '127.0.0.2',
    });
    r.startHeartbeats();
    await clock.advanceAsync(3_500);
    r.close();
    const raw = sent.map((p) => JSON.parse(p.toString()) as Record<string, unknown>);
    const carrying = raw.filter((b) => 'u' in b || 'usage' in b);
    assert.ok(carrying.length >= 1);
    assert.ok(carrying.every((b) => (statsCompact ? 'u' in b : 'usage' in b)));
  });
}
