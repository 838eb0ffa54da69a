// Decoding at the edge: bad payloads become a reason, never an exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_PAYLOAD_BYTES,
  assignmentSchema,
  decode,
  heartbeatSchema,
  statusSchema,
} from '../../shared/protocol.js';
import { z } from 'zod';

test('a valid heartbeat decodes', () => {
  assert.deepEqual(decode(heartbeatSchema, '{"v":1,"seq":3,"ts":5}'), {
    ok: true,
    value: { v: 1, seq: 3, ts: 5 },
  });
});

test('malformed, mistyped, oversized and nested payloads give a reason', () => {
  const bad = decode(heartbeatSchema, '{"v":1,');
  assert.deepEqual(bad, { ok: false, reason: 'payload is not valid JSON' });
  const wrong = decode(heartbeatSchema, '{"v":2,"seq":1,"ts":1}');
  assert.equal(wrong.ok, false);
  assert.match(wrong.ok ? '' : wrong.reason, /^schema mismatch: v/);
  const huge = decode(heartbeatSchema, Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 32));
  assert.match(huge.ok ? '' : huge.reason, /exceeds/);
  const nested = '['.repeat(5000) + ']'.repeat(5000);
  assert.equal(decode(statusSchema, nested).ok, false);
  assert.equal(decode(statusSchema, 'null').ok, false);
});

test('usage and statsMs are optional: old and new agents and managers read each other', () => {
  const usage = {
    at: 5,
    node: { cpu: 0.5, memUsed: 1, memTotal: 2, diskUsed: 3, diskTotal: 4, tempC: 48.5 },
    tasks: [{ id: 't1', cpu: 1.5, mem: 10, rx: 1, tx: 2 }],
  };
  const hb = decode(heartbeatSchema, JSON.stringify({ v: 1, seq: 1, ts: 2, usage }));
  assert.ok(hb.ok);
  assert.deepEqual(hb.value.usage, usage);
  assert.equal(decode(heartbeatSchema, JSON.stringify({ v: 1, seq: 1, ts: 2 })).ok, true);
  // A manager from before usage summaries drops the field and keeps the heartbeat.
  const older = z.object({ v: z.literal(1), seq: z.number(), ts: z.number() });
  assert.deepEqual(decode(older, JSON.stringify({ v: 1, seq: 1, ts: 2, usage })), {
    ok: true,
    value: { v: 1, seq: 1, ts: 2 },
  });
  const assignment = { v: 1, version: 1, nodeId: 'n1', heartbeatMs: 1000, tasks: [] };
  const a = decode(assignmentSchema, JSON.stringify({ ...assignment, statsMs: 30_000 }));
  assert.ok(a.ok);
  assert.equal(a.value.statsMs, 30_000);
  assert.equal(decode(assignmentSchema, JSON.stringify(assignment)).ok, true);
  // Bounded: no runaway arrays or impossible figures.
  const many = { ...usage, tasks: Array.from({ length: 1001 }, () => usage.tasks[0]) };
  assert.equal(
    decode(heartbeatSchema, JSON.stringify({ v: 1, seq: 1, ts: 2, usage: many })).ok,
    false,
  );
  const hot = { ...usage, node: { ...usage.node, cpu: 2 } };
  assert.equal(
    decode(heartbeatSchema, JSON.stringify({ v: 1, seq: 1, ts: 2, usage: hot })).ok,
    false,
  );
});
