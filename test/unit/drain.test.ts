// Draining before a stop: reading open connections from /proc tables, and the Drainer's waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { countServing, servedConnections } from '../../agent/runtime/connections.js';
import { Drainer } from '../../agent/reconcile/drain.js';
import type { ObservedWorkload, Runtime } from '../../agent/runtime/types.js';
import { silentLogger } from '../../shared/log.js';
import { taskTemplateSchema } from '../../shared/spec.js';
import { waitFor } from '../helpers/wait.js';

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
  const d = new Drainer({
    runtime: fakeRuntime(() => 5),
    routes: () => true,
    logger: silentLogger,
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
  // A drain that is not needed ends at once, though connections are open and routed.
  const started = Date.now();
  await d.drain(workload({ hostPorts: [] }), template);
  assert.ok(Date.now() - started < 100);
  d.close();
});

test('a drain waits for the table to drop the task, then for its connections to end', async () => {
  let routed = true;
  let open = 2;
  let drained = false;
  const d = new Drainer({
    runtime: fakeRuntime(() => open),
    routes: () => routed,
    logger: silentLogger,
  });
  const template = { ...taskTemplateSchema.parse({ image: 'x' }), drainTimeoutMs: 20_000 };
  const drain = d.drain(workload(), template).then(() => (drained = true));
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(drained, false, 'still routed: it waits');
  routed = false;
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(drained, false, 'connections still open: it waits');
  open = 0;
  await waitFor(() => drained, { what: 'the drain to end', timeoutMs: 3_000 });
  await drain;
  d.close();
});

test('a drain ends at its timeout with connections still open, and when counts are unknown', async () => {
  const drained: string[] = [];
  const template = { ...taskTemplateSchema.parse({ image: 'x' }), drainTimeoutMs: 700 };
  const stuck = new Drainer({
    runtime: fakeRuntime(() => 3),
    routes: () => false,
    logger: silentLogger,
  });
  const unknown = new Drainer({
    runtime: fakeRuntime(() => null),
    routes: () => false,
    logger: silentLogger,
  });
  const started = Date.now();
  void stuck.drain(workload(), template).then(() => drained.push('stuck:c1'));
  void unknown
    .drain(workload(), { ...template, drainTimeoutMs: 60_000 })
    .then(() => drained.push('unknown:c1'));
  await waitFor(() => drained.length === 2, { what: 'both drains to end', timeoutMs: 5_000 });
  assert.ok(Date.now() - started < 3_000);
  assert.deepEqual(drained.sort(), ['stuck:c1', 'unknown:c1']);
  stuck.close();
  unknown.close();
});
