// Assignment deltas: made from two sets, applied only on the version they were made from, sent by the dispatcher's sender.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyDelta,
  assignmentDeltaSchema,
  assignmentDeltaTopic,
  makeDelta,
  type AssignmentDelta,
} from '../../shared/assignment-delta.js';
import { assignmentSchema, type AssignedTask, type Assignment } from '../../shared/protocol.js';
import { taskTemplateSchema } from '../../shared/spec.js';
import {
  AssignmentSender,
  type AssignmentDraft,
} from '../../manager/dispatcher/assignment-sender.js';
import { createLogger } from '../../shared/log.js';

const template = taskTemplateSchema.parse({ image: 'img:1' });
const task = (id: string, image = 'img:1'): AssignedTask => ({
  id,
  serviceId: 's',
  serviceName: 'web',
  slot: Number(id.replace(/\D/g, '') || 0),
  template: { ...template, image },
  notBefore: 0,
});
const assignment = (version: number, tasks: AssignedTask[], heartbeatMs = 2000): Assignment => ({
  v: 1,
  version,
  nodeId: 'n1',
  heartbeatMs,
  tasks,
});
const ids = (a: Assignment): string[] => a.tasks.map((t) => t.id).sort();

test('a delta carries only the tasks added, changed and removed, and the head whole', () => {
  const prev = assignment(5, [task('t1'), task('t2'), task('t3')]);
  const next = assignment(9, [task('t1'), task('t2', 'img:2'), task('t4')], 500);
  const d = makeDelta(prev, next);
  assert.equal(d.base, 5);
  assert.equal(d.version, 9);
  assert.deepEqual(
    d.put.map((t) => t.id),
    ['t2', 't4'],
  );
  assert.deepEqual(d.remove, ['t3']);
  assert.equal(d.head.heartbeatMs, 500);
  assert.equal(assignmentDeltaSchema.safeParse(JSON.parse(JSON.stringify(d))).success, true);
});

test('applying a delta on its base gives exactly the new set', () => {
  const prev = assignment(5, [task('t1'), task('t2'), task('t3')]);
  const next = assignment(9, [task('t1'), task('t2', 'img:2'), task('t4')], 500);
  const out = applyDelta(prev, makeDelta(prev, next));
  assert.equal(out.kind, 'applied');
  if (out.kind !== 'applied') return;
  assert.equal(out.assignment.version, 9);
  assert.deepEqual(ids(out.assignment), ids(next));
  assert.equal(out.assignment.tasks.find((t) => t.id === 't2')?.template.image, 'img:2');
  assert.equal(out.assignment.heartbeatMs, 500);
  assert.equal(assignmentSchema.safeParse(out.assignment).success, true);
});

test('a field the new head no longer has is gone after the delta', () => {
  const prev: Assignment = { ...assignment(1, []), statsMs: 10_000 };
  const next = assignment(2, []);
  const out = applyDelta(prev, makeDelta(prev, next));
  assert.equal(out.kind === 'applied' ? out.assignment.statsMs : 'not applied', undefined);
});

test('a delta made from another version asks for the full set and changes nothing', () => {
  const v5 = assignment(5, [task('t1')]);
  const v7 = assignment(7, [task('t1'), task('t2')]);
  const v9 = assignment(9, [task('t2'), task('t3')]);
  // The delta 5 -> 7 was lost: 7 -> 9 reaches a board still at 5.
  const out = applyDelta(v5, makeDelta(v7, v9));
  assert.equal(out.kind, 'resync');
  assert.match(out.kind === 'resync' ? out.reason : '', /from version 7, running 5/);
  assert.equal(applyDelta(null, makeDelta(v5, v7)).kind, 'resync');
});

test('a delta for a version already running (overtaken by a full set) is ignored', () => {
  const v5 = assignment(5, [task('t1')]);
  const v7 = assignment(7, [task('t2')]);
  const v9 = assignment(9, [task('t3')]);
  assert.equal(applyDelta(v9, makeDelta(v5, v7)).kind, 'stale');
  assert.equal(applyDelta(v7, makeDelta(v5, v7)).kind, 'stale');
});

test('deltas applied out of order never leave a wrong set', () => {
  const v1 = assignment(1, [task('t1')]);
  const v2 = assignment(2, [task('t1'), task('t2')]);
  const v3 = assignment(3, [task('t2'), task('t3')]);
  const d12 = makeDelta(v1, v2);
  const d23 = makeDelta(v2, v3);
  // Reordered: 2 -> 3 first is refused, then 1 -> 2 applies, then 2 -> 3 would apply again.
  assert.equal(applyDelta(v1, d23).kind, 'resync');
  const at2 = applyDelta(v1, d12);
  assert.equal(at2.kind, 'applied');
  const at3 = at2.kind === 'applied' ? applyDelta(at2.assignment, d23) : at2;
  assert.deepEqual(at3.kind === 'applied' ? ids(at3.assignment) : [], ['t2', 't3']);
});

test('makeDelta refuses to go backwards or across nodes', () => {
  const a = assignment(5, []);
  assert.throws(() => makeDelta(a, assignment(5, [])), /forward/);
  assert.throws(() => makeDelta(a, { ...assignment(6, []), nodeId: 'n2' }), /one node/);
});

interface Sent {
  topic: string;
  payload: Buffer;
  deliver: boolean;
}

function fakeBroker(): { sent: Sent[]; broker: ConstructorParameters<typeof AssignmentSender>[0] } {
  const sent: Sent[] = [];
  return {
    sent,
    broker: {
      publish: (topic, payload) => {
        sent.push({ topic, payload, deliver: true });
        return Promise.resolve();
      },
      retainOnly: (topic, payload) => {
        sent.push({ topic, payload, deliver: false });
        return Promise.resolve();
      },
    },
  };
}

const draft = (version: number, tasks: AssignedTask[]): AssignmentDraft => ({
  version,
  nodeId: 'n1',
  head: { heartbeatMs: 2000 },
  tasks,
});

test('the sender gives a delta-capable node a full set first, then deltas with the full set retained', async () => {
  const { sent, broker } = fakeBroker();
  const sender = new AssignmentSender(broker, createLogger('test', { level: 'error' }));
  let seals = 0;
  const seal = (t: AssignedTask): AssignedTask => ({ ...t, registryAuth: `sealed-${++seals}` });
  sender.noteDeltas('n1', true);
  const many = Array.from({ length: 200 }, (_, i) => task(`t${i}`));
  assert.equal(await sender.send(draft(1, many), seal), 'full');
  assert.equal(await sender.send(draft(2, many), seal), 'unchanged');
  assert.equal(await sender.send(draft(3, [...many, task('t200')]), seal), 'delta');
  assert.equal(seals, 201, 'unchanged tasks keep their sealed copy');
  const [first, retained, delta] = sent;
  assert.equal(first?.deliver, true);
  assert.equal(retained?.deliver, false, 'the full set is retained, not delivered');
  const full = assignmentSchema.parse(JSON.parse(retained?.payload.toString() ?? ''));
  assert.equal(full.tasks.length, 201);
  assert.equal(delta?.topic, assignmentDeltaTopic('n1'));
  const d = JSON.parse(delta?.payload.toString() ?? '') as AssignmentDelta;
  assert.deepEqual([d.base, d.version, d.put.length, d.remove.length], [1, 3, 1, 0]);
  assert.ok((delta?.payload.length ?? 0) * 50 < (retained?.payload.length ?? 0));
});

test('the sender sends full sets to agents that do not apply deltas, and after a withdrawal', async () => {
  const { sent, broker } = fakeBroker();
  const sender = new AssignmentSender(broker, createLogger('test', { level: 'error' }));
  const seal = (t: AssignedTask): AssignedTask => t;
  assert.equal(await sender.send(draft(1, [task('t1')]), seal), 'full');
  assert.equal(await sender.send(draft(2, [task('t2')]), seal), 'full');
  sender.noteDeltas('n1', true);
  assert.equal(await sender.send(draft(3, [task('t3')]), seal), 'delta');
  sender.withdrawAll();
  assert.equal(await sender.send(draft(4, [task('t4')]), seal), 'full');
  assert.ok(sent.every((s) => s.topic !== assignmentDeltaTopic('n1') || s.deliver));
});
