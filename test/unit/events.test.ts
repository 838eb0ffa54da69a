// Cluster events on an in-memory store with a fake clock: batching, numbering, the kept window, the recorder's order and reasons, queries, flags and lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventLog } from '../../manager/events/log.js';
import { EventRecorder } from '../../manager/events/recorder.js';
import { eventPage } from '../../manager/events/query.js';
import { onEvent } from '../../manager/events/feed.js';
import { serviceEvents } from '../../manager/events/diff.js';
import { formatEvent } from '../../manager/cli/events.js';
import { parseEventFilters, parseEventTime } from '../../manager/cli/flags/events.js';
import type { Proposal } from '../../manager/store/commands.js';
import { Store } from '../../manager/store/store.js';
import { FakeClock, flushMicrotasks } from '../../shared/clock.js';
import type { EventDraft, EventRecord, FleetEvent } from '../../shared/events.js';
import { memoryLogger } from '../../shared/log.js';
import type { ServiceRecord, TaskRecord } from '../../shared/spec.js';
import { nodeRecord, serviceRecord } from '../helpers/records.js';

function harness(window = { maxCount: 100, maxAgeMs: 60_000 }) {
  const store = new Store(':memory:');
  const clock = new FakeClock();
  const proposals: Proposal[] = [];
  const propose = async (p: Proposal) => {
    proposals.push(p);
    return store.apply(p);
  };
  const logger = memoryLogger();
  const log = new EventLog({ store, propose, clock, logger, window });
  return { store, clock, proposals, log, propose, logger };
}

const draft = (at: number, action = 'down', name = 'n1'): EventDraft => ({
  at,
  type: 'node',
  action,
  actor: { id: name, name },
  attrs: {},
});

const stored = (store: Store): FleetEvent[] => [...store.events()].sort((a, b) => a.seq - b.seq);

function task(id: string, nodeId: string, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id,
    serviceId: 'svc-web',
    serviceName: 'web',
    slot: Number(id.replace(/\D/g, '')),
    nodeId,
    desiredState: 'running',
    specVersion: 1,
    template: { image: 'busybox' } as TaskRecord['template'],
    status: { state: 'running', message: 'started', error: null, at: 0 } as TaskRecord['status'],
    notBefore: 0,
    restartHistory: [],
    createdAt: 0,
    updatedAt: 0,
    ...extra,
  };
}

test('a storm of events is written in one proposal per flush, numbered from 1 in order', async () => {
  const h = harness({ maxCount: 10_000, maxAgeMs: 3_600_000 });
  h.log.start();
  for (let i = 0; i < 500; i++) h.log.record(draft(h.clock.now(), `a${i}`));
  await h.clock.advanceAsync(200);
  assert.equal(h.proposals.length, 1);
  const events = stored(h.store);
  assert.equal(events.length, 500);
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_e, i) => i + 1),
  );
  assert.equal(events[499]?.action, 'a499');
  h.log.stop();
  h.store.close();
});

test('the window keeps at most maxCount events and none older than maxAgeMs', async () => {
  const h = harness({ maxCount: 5, maxAgeMs: 60_000 });
  h.log.start();
  for (let i = 0; i < 8; i++) h.log.record(draft(h.clock.now(), `a${i}`));
  await h.clock.advanceAsync(200);
  assert.deepEqual(
    stored(h.store).map((e) => e.action),
    ['a3', 'a4', 'a5', 'a6', 'a7'],
  );
  await h.clock.advanceAsync(30_000);
  h.log.record(draft(h.clock.now(), 'late'));
  await h.clock.advanceAsync(200);
  assert.deepEqual(
    stored(h.store).map((e) => e.action),
    ['a4', 'a5', 'a6', 'a7', 'late'],
  );
  // Past the age bound the early ones go, with nothing new written.
  await h.clock.advanceAsync(40_000);
  assert.deepEqual(
    stored(h.store).map((e) => e.action),
    ['late'],
  );
  assert.equal(stored(h.store)[0]?.seq, 6);
  h.log.stop();
  h.store.close();
});

test('numbering goes on from the newest stored event after a leader change', async () => {
  const h = harness();
  h.log.start();
  h.log.record(draft(h.clock.now(), 'first'));
  await h.clock.advanceAsync(200);
  h.log.stop();
  h.log.record(draft(h.clock.now(), 'ignored while not leading'));
  const next = new EventLog({ ...h, window: { maxCount: 100, maxAgeMs: 60_000 } });
  next.start();
  next.record(draft(h.clock.now(), 'second'));
  await h.clock.advanceAsync(200);
  assert.deepEqual(
    stored(h.store).map((e) => [e.seq, e.action]),
    [
      [1, 'first'],
      [2, 'second'],
    ],
  );
  next.stop();
  h.store.close();
});

test('a failed write keeps its events for the next flush, in order', async () => {
  const h = harness();
  let fail = true;
  const log = new EventLog({
    ...h,
    propose: async (p) => {
      if (fail) throw new Error('disk full');
      return h.propose(p);
    },
  });
  log.start();
  log.record(draft(h.clock.now(), 'one'));
  await h.clock.advanceAsync(200);
  log.record(draft(h.clock.now(), 'two'));
  fail = false;
  await h.clock.advanceAsync(200);
  assert.deepEqual(
    stored(h.store).map((e) => [e.seq, e.action]),
    [
      [1, 'one'],
      [2, 'two'],
    ],
  );
  log.stop();
  h.store.close();
});

test('a node going down comes before its tasks being orphaned and replaced, with reasons', async () => {
  const h = harness();
  await h.propose({ commands: [{ type: 'node.put', node: nodeRecord('n1', { name: 'pi-1' }) }] });
  await h.propose({ commands: [{ type: 'node.put', node: nodeRecord('n2', { name: 'pi-2' }) }] });
  await h.propose({ commands: [{ type: 'tasks.put', tasks: [task('t1', 'n1')] }] });
  const recorded: EventDraft[] = [];
  const recorder = new EventRecorder({
    store: h.store,
    clock: h.clock,
    self: 'm1',
    record: (e) => recorded.push(e),
  });
  recorder.start();
  const n1 = h.store.node('n1');
  assert.ok(n1);
  const down = { ...n1, status: 'down' as const, statusMessage: 'no heartbeat for 15s' };
  await h.propose({ commands: [{ type: 'node.put', node: down }] });
  const t1 = h.store.task('t1');
  assert.ok(t1);
  const orphaned: TaskRecord = {
    ...t1,
    desiredState: 'shutdown',
    status: { ...t1.status, state: 'orphaned', message: 'node down' },
  };
  const t2 = task('t2', 'n2', { status: { ...t1.status, state: 'new', message: 'created' } });
  await h.propose({ commands: [{ type: 'tasks.put', tasks: [orphaned, t2] }] });
  const line = (e: EventDraft) => `${e.type} ${e.action} ${e.actor.name} ${e.attrs.reason ?? ''}`;
  assert.deepEqual(recorded.map(line), [
    'manager leader elected m1 ',
    'node down pi-1 no heartbeat for 15s',
    'task orphaned web.1 node down',
    'task stop requested web.1 node down',
    'task created web.2 created',
  ]);
  assert.equal(recorded[2]?.attrs.node, 'pi-1');
  assert.equal(recorded[4]?.attrs.node, 'pi-2');
  recorder.stop();
  h.store.close();
});

test('service updates say when they start, pause and roll back, with the reason', () => {
  const s0 = serviceRecord({ name: 'web', task: { image: 'busybox' } });
  const status = (state: string, message = '', startedAt = 10) =>
    ({
      kind: state.includes('roll') ? 'rollback' : 'update',
      state,
      message,
      startedAt,
      fromVersion: 1,
      failedTaskIds: [],
      promoted: false,
    }) as unknown as ServiceRecord['updateStatus'];
  const facts = (s: ServiceRecord) => ({
    name: s.spec.name,
    specVersion: s.specVersion,
    update: s.updateStatus && { state: s.updateStatus.state, startedAt: s.updateStatus.startedAt },
  });
  const s1: ServiceRecord = { ...s0, specVersion: 2, updateStatus: status('updating') };
  const s2: ServiceRecord = { ...s1, updateStatus: status('paused', 'task web.1 failed') };
  const s3: ServiceRecord = { ...s2, updateStatus: status('rolling back', 'rolling back', 20) };
  const s4: ServiceRecord = { ...s3, updateStatus: status('rolled back', 'rolled back', 20) };
  const actions = [
    serviceEvents(s0.id, facts(s0), s1, 1),
    serviceEvents(s0.id, facts(s1), s2, 2),
    serviceEvents(s0.id, facts(s2), s3, 3),
    serviceEvents(s0.id, facts(s3), s4, 4),
  ].map((es) => es.map((e) => `${e.type} ${e.action} ${e.attrs.reason ?? ''}`.trim()));
  assert.deepEqual(actions, [
    ['service updated', 'update update started'],
    ['update update paused task web.1 failed'],
    ['update rollback started rolling back'],
    ['update update rolled back rolled back'],
  ]);
});

test('a page of events follows afterSeq, the time range and the filters, and says where to go on', () => {
  const all = Array.from({ length: 6 }, (_v, i): EventRecord => ({
    id: `e${i + 1}`,
    seq: i + 1,
    at: 1000 * (i + 1),
    type: i % 2 === 0 ? ('node' as const) : ('task' as const),
    action: 'x',
    actor: { id: `a${i}`, name: `a${i}` },
    attrs: i % 2 === 1 ? { node: 'a0', service: 'web' } : {},
  }));
  const none = { type: [], node: [], service: [] };
  const q = { afterSeq: 0, filters: none, limit: 1000 };
  assert.deepEqual(eventPage(all, { ...q, limit: 0 }, 9).lastSeq, 6);
  const nodes = eventPage(all, { ...q, filters: { ...none, type: ['node'] } }, 9);
  assert.deepEqual(
    nodes.events.map((e) => e.seq),
    [1, 3, 5],
  );
  assert.equal(nodes.lastSeq, 6);
  const ranged = eventPage(all, { ...q, afterSeq: 1, since: 3000, until: 5000 }, 9);
  assert.deepEqual(
    ranged.events.map((e) => e.seq),
    [3, 4, 5],
  );
  const paged = eventPage(all, { ...q, limit: 2 }, 9);
  assert.deepEqual([paged.events.length, paged.lastSeq, paged.more], [2, 2, true]);
  const byNode = eventPage(all, { ...q, filters: { ...none, node: ['a0'] } }, 9);
  assert.deepEqual(
    byNode.events.map((e) => e.seq),
    [1, 2, 4, 6],
  );
  assert.ok(!('id' in (byNode.events[0] ?? {})));
});

test('flags: times in three forms, filters by key, and clear errors for the rest', () => {
  const now = Date.parse('2026-12-07T13:20:00Z');
  assert.equal(parseEventTime('since', '10m', now), now - 600_000);
  assert.equal(parseEventTime('since', '1h30m', now), now - 5_400_000);
  assert.equal(parseEventTime('since', '1765113600', now), 1_765_113_600_000);
  assert.equal(parseEventTime('since', '2026-12-07T13:00:00Z', now), now - 1_200_000);
  assert.throws(() => parseEventTime('since', 'yesterday', now), /Invalid value for --since/);
  assert.deepEqual(parseEventFilters(['type=node', 'type=task', 'node=pi-1']), {
    type: ['node', 'task'],
    node: ['pi-1'],
    service: [],
  });
  assert.throws(
    () => parseEventFilters(['type=container']),
    /Invalid value for --filter: "type=container" \(expected type=node\|task\|service\|update\|manager\)/,
  );
  assert.throws(() => parseEventFilters(['image=x']), /expected KEY=VALUE with a key of type=/);
  assert.throws(() => parseEventFilters(['type']), /Invalid value for --filter/);
});

test('an event prints as Docker prints one, or as one JSON object', () => {
  const e: FleetEvent = {
    seq: 7,
    at: Date.parse('2026-12-07T13:20:01.123Z'),
    type: 'node',
    action: 'down',
    actor: { id: 'abc', name: 'node-3' },
    attrs: { reason: 'no heartbeat for 15s', previous: 'ready', nodeId: 'abc' },
  };
  assert.equal(
    formatEvent(e, 'text'),
    '2026-12-07T13:20:01.123000Z node down node-3 (previous=ready, reason=no heartbeat for 15s)',
  );
  const json = JSON.parse(formatEvent(e, 'json')) as FleetEvent & { time: string };
  assert.equal(json.time, '2026-12-07T13:20:01.123000Z');
  assert.equal(json.seq, 7);
});

test('onEvent passes on each committed event once, in order, and not again after a restore', async () => {
  const h = harness();
  const seen: number[] = [];
  const off = onEvent(h.store, (e) => seen.push(e.seq));
  h.log.start();
  h.log.record(draft(h.clock.now(), 'a'));
  h.log.record(draft(h.clock.now(), 'b'));
  await h.clock.advanceAsync(200);
  h.store.restore(h.store.dump());
  await flushMicrotasks();
  assert.deepEqual(seen, [1, 2]);
  off();
  h.log.stop();
  h.store.close();
});
