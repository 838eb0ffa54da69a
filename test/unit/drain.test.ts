// Draining before a stop: reading open connections from /proc tables, and the Drainer's waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { countServing, servedConnections } from '../../agent/runtime/connections.js';
import { Drainer } from '../../agent/reconcile/drain.js';
import type { ObservedWorkload, Runtime } from '../../agent/runtime/types.js';
import { FakeClock, flushMicrotasks } from '../../shared/clock.js';
import { silentLogger } from '../../shared/log.js';
import { taskTemplateSchema } from '../../shared/spec.js';

const HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
/** A row of /proc/net/tcp: local port, remote port, state (hex). */
const row = (i: number, local: number, remote: number, st: string): string =>
  `   ${i}: 0100007F:${local.toString(16).toUpperCase().padStart(4, '0')} ` +
  `0100007F:${remote.toString(16).toUpperCase().padStart(4, '0')} ${st} 00000000:00000000 00:00000000 00000000     0        0 ${1000 + i}\n`;

test('connections served on a port are counted from the socket table while data may still flow', () => {
  const table =
    HEADER +
    row(0, 80, 0, '0A') + // the listener itself
    row(1, 80, 40001, '01') +
    row(2, 80, 40002, '08') + // the client is done sending; the download goes on
    row(3, 80, 40003, '06') + // TIME_WAIT: finished
    row(6, 80, 40005, '04') + // FIN_WAIT1: the server closed, its last data not yet acknowledged
    row(7, 80, 40006, '05') + // FIN_WAIT2: everything acknowledged
    row(4, 41000, 80, '01') + // an outgoing connection to port 80 elsewhere
    row(5, 8080, 40004, '01');
  assert.equal(countServing(table, new Set([80])), 3);
  assert.equal(countServing(table, new Set([80, 8080])), 4);
  assert.equal(countServing(table, new Set([443])), 0);
  assert.equal(countServing('garbage\nmore garbage', new Set([80])), 0);
});

test('tcp and tcp6 tables are both read; none readable means unknown (null)', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fleet-proc-'));
  mkdirSync(path.join(root, '42', 'net'), { recursive: true });
  writeFileSync(path.join(root, '42', 'net', 'tcp'), HEADER + row(1, 80, 40001, '01'));
  writeFileSync(path.join(root, '42', 'net', 'tcp6'), HEADER + row(1, 80, 40002, '01'));
  assert.equal(await servedConnections(42, [80], root), 2);
  assert.equal(await servedConnections(43, [80], root), null);
  assert.equal(await servedConnections(43, [], root), 0);
});

function fakeRuntime(open: () => number | null): Runtime {
  return { openConnections: () => Promise.resolve(open()) } as unknown as Runtime;
}

const workload = (over: Partial<ObservedWorkload> = {}): ObservedWorkload => ({
  runtimeId: 'c1',
  taskId: 't1',
  serviceName: 'web',
  slot: 1,
  nodeId: 'n',
  running: true,
  exitCode: null,
  startedAt: 1,
  finishedAt: null,
  hostPorts: [{ target: 80, protocol: 'tcp', hostIp: '127.0.0.2', hostPort: 40000 }],
  ...over,
});

test('a workload serving no TCP port, or asking for no drain, may stop at once', async () => {
  const clock = new FakeClock();
  const d = new Drainer({
    runtime: fakeRuntime(() => 5),
    routes: () => true,
    logger: silentLogger,
    clock,
  });
  const template = taskTemplateSchema.parse({ image: 'x' });
  assert.equal(d.needed(workload({ hostPorts: [] }), template), false);
  assert.equal(
    d.needed(
      workload({ hostPorts: [{ target: 53, protocol: 'udp', hostIp: '', hostPort: 5 }] }),
      template,
    ),
    false,
  );
  assert.equal(d.needed(workload(), { ...template, drainTimeoutMs: 0 }), false);
  assert.equal(d.needed(workload({ running: false }), template), false);
  assert.equal(d.needed(workload(), template), true);
  // A drain that is not needed ends at once, though connections are open and routed: no time
  // passes and nothing waits on the clock.
  let drained = false;
  void d.drain(workload({ hostPorts: [] }), template).then(() => (drained = true));
  await flushMicrotasks();
  assert.equal(drained, true);
  assert.equal(clock.pending, 0);
  d.close();
});

test('a drain waits for the table to drop the task, then for its connections to end', async () => {
  let routed = true;
  let open = 2;
  let drained = false;
  const clock = new FakeClock();
  const d = new Drainer({
    runtime: fakeRuntime(() => open),
    routes: () => routed,
    logger: silentLogger,
    clock,
  });
  const template = { ...taskTemplateSchema.parse({ image: 'x' }), drainTimeoutMs: 20_000 };
  const drain = d.drain(workload(), template).then(() => (drained = true));
  await clock.advanceAsync(600);
  assert.equal(drained, false, 'still routed: it waits');
  routed = false;
  await clock.advanceAsync(800);
  assert.equal(drained, false, 'connections still open: it waits');
  open = 0;
  // The next count, one poll later, finds none.
  await clock.advanceAsync(200);
  assert.equal(drained, true, 'the drain ends once the connections have');
  await drain;
  d.close();
});

test('a drain ends at its timeout with connections still open, and when counts are unknown', async () => {
  const drained: string[] = [];
  const template = { ...taskTemplateSchema.parse({ image: 'x' }), drainTimeoutMs: 700 };
  const clock = new FakeClock();
  const stuck = new Drainer({
    runtime: fakeRuntime(() => 3),
    routes: () => false,
    logger: silentLogger,
    clock,
  });
  const unknown = new Drainer({
    runtime: fakeRuntime(() => null),
    routes: () => false,
    logger: silentLogger,
    clock,
  });
  void stuck.drain(workload(), template).then(() => drained.push('stuck:c1'));
  void unknown
    .drain(workload(), { ...template, drainTimeoutMs: 60_000 })
    .then(() => drained.push('unknown:c1'));
  await clock.advanceAsync(699);
  assert.deepEqual(drained, ['unknown:c1'], 'unknown counts end the drain long before its timeout');
  await clock.advanceAsync(1);
  assert.deepEqual(
    drained.sort(),
    ['stuck:c1', 'unknown:c1'],
    'open connections wait no longer than the timeout',
  );
  stuck.close();
  unknown.close();
});
