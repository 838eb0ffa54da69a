// The agent's parts on a fake clock: status batching, heartbeat pacing, the assignment store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AssignmentStore } from '../../agent/reconcile/assignment-store.js';
import { freshLocal, type LocalTask } from '../../agent/reconcile/local-state.js';
import { StatusReporter } from '../../agent/reconcile/reporter.js';
import { FakeClock } from '../../shared/clock.js';
import { memoryLogger, silentLogger } from '../../shared/log.js';
import {
  decode,
  heartbeatSchema,
  statusSchema,
  topics,
  type Assignment,
} from '../../shared/protocol.js';

const NODE = 'node-1';

function reporter(clock: FakeClock, local: Map<string, LocalTask>, heartbeatMs = 1_000) {
  const sent: { topic: string; payload: Buffer }[] = [];
  const r = new StatusReporter({
    nodeId: NODE,
    clock,
    random: () => 0.5,
    publish: (topic, payload) => sent.push({ topic, payload }) > 0,
    connected: () => true,
    info: () => ({ os: 'linux', arch: 'arm64', cpus: 4, memoryBytes: 1 << 30, version: '1' }),
    tasks: () => local,
    assignment: () => ({ version: 3, heartbeatMs }),
    diskFull: () => false,
    closing: () => false,
    runtimeName: 'fake',
    address: '127.0.0.2',
  });
  const statuses = () =>
    sent.filter((m) => m.topic === topics.status(NODE)).map((m) => decode(statusSchema, m.payload));
  const heartbeats = () =>
    sent
      .filter((m) => m.topic === topics.heartbeat(NODE))
      .map((m) => decode(heartbeatSchema, m.payload));
  return { r, statuses, heartbeats };
}

test('task changes within 50 ms go out in one status report', () => {
  const clock = new FakeClock(1_000);
  const local = new Map([['t1', freshLocal(clock.now())]]);
  const { r, statuses } = reporter(clock, local);
  r.scheduleStatus();
  clock.advance(20);
  local.set('t2', freshLocal(clock.now()));
  r.scheduleStatus();
  clock.advance(29);
  assert.equal(statuses().length, 0, 'nothing before the batch closes');
  clock.advance(1);
  const all = statuses();
  assert.equal(all.length, 1);
  const first = all[0];
  assert.ok(first?.ok);
  assert.deepEqual(
    first.value.tasks.map((t) => t.taskId),
    ['t1', 't2'],
  );
  assert.equal(first.value.assignmentVersion, 3);
  assert.equal(first.value.ts, 1_050);
  r.close();
});

test('a removed task is still reported for a minute, then dropped', () => {
  const clock = new FakeClock(1_000);
  const local = new Map<string, LocalTask>();
  const { r, statuses } = reporter(clock, local);
  r.removedTask('gone', { ...freshLocal(clock.now()), state: 'shutdown' });
  clock.advance(50);
  assert.deepEqual(
    statuses().map((s) => (s.ok ? s.value.tasks.map((t) => [t.taskId, t.state]) : null)),
    [[['gone', 'shutdown']]],
  );
  clock.advance(60_001);
  r.sendStatus();
  const last = statuses().at(-1);
  assert.ok(last?.ok);
  assert.deepEqual(last.value.tasks, []);
  r.close();
});

test('heartbeats go at once, then every period with jitter from the injected source', () => {
  const clock = new FakeClock(0);
  const { r, heartbeats } = reporter(clock, new Map(), 1_000);
  r.startHeartbeats();
  clock.advance(0);
  assert.equal(heartbeats().length, 1);
  // random() = 0.5: 1000 × (0.75 + 0.5 × 0.25) = 875 ms.
  clock.advance(874);
  assert.equal(heartbeats().length, 1);
  clock.advance(1);
  assert.equal(heartbeats().length, 2);
  clock.advance(875);
  assert.deepEqual(
    heartbeats().map((h) => (h.ok ? [h.value.seq, h.value.ts] : null)),
    [
      [0, 0],
      [1, 875],
      [2, 1_750],
    ],
  );
  r.stopHeartbeats();
  clock.advance(10_000);
  assert.equal(heartbeats().length, 3, 'no heartbeat once stopped');
  r.close();
});

const assignment = (version: number): Assignment => ({
  v: 1,
  version,
  nodeId: NODE,
  heartbeatMs: 1_000,
  tasks: [],
});

test('the assignment store saves the newest assignment, ignores older ones, and reads it back', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fleet-assign-'));
  const clock = new FakeClock();
  const log = memoryLogger('agent');
  const store = new AssignmentStore({
    dataDir,
    nodeId: NODE,
    clock,
    logger: log,
    onDiskSpaceBack: () => undefined,
  });
  assert.equal(await store.accept(assignment(5)), true);
  assert.equal(await store.accept(assignment(4)), false);
  assert.equal(store.current?.version, 5);
  assert.ok(log.lines.some((l) => l.includes('ignored an older assignment')));
  const reread = new AssignmentStore({
    dataDir,
    nodeId: NODE,
    clock,
    logger: silentLogger,
    onDiskSpaceBack: () => undefined,
  });
  await reread.load();
  assert.equal(reread.current?.version, 5);
  assert.equal(reread.diskFull, false);
  const other = new AssignmentStore({
    dataDir,
    nodeId: 'node-2',
    clock,
    logger: silentLogger,
    onDiskSpaceBack: () => undefined,
  });
  await other.load();
  assert.equal(other.current, null, "another node's saved assignment is not run");
  await fs.rm(dataDir, { recursive: true, force: true });
});
