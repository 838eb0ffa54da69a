// Decoding at the edge: bad payloads become a reason, never an exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PAYLOAD_BYTES, decode, heartbeatSchema, statusSchema } from '../../shared/protocol.js';

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
