// The broker's flood guard on a fake clock: payload caps, token buckets, and when a client is cut off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryLogger } from '../../shared/log.js';
import { topics } from '../../shared/protocol.js';
import { FloodGuard, PAYLOAD_CAPS, RATE_LIMITS, topicFamily } from '../../manager/broker/flood.js';

function guard(): { g: FloodGuard; lines: string[]; tick: (ms: number) => void } {
  let now = 1_000_000;
  const logger = memoryLogger('broker');
  return { g: new FloodGuard(logger, () => now), lines: logger.lines, tick: (ms) => (now += ms) };
}

test('topics are told apart by family', () => {
  assert.equal(topicFamily(topics.heartbeat('n1')), 'hb');
  assert.equal(topicFamily(topics.status('n1')), 'status');
  assert.equal(topicFamily(topics.will('n1')), 'will');
  assert.equal(topicFamily(topics.ingressStats('n1')), 'ingress');
  assert.equal(topicFamily(topics.rpc('any')), 'rpc');
  assert.equal(topicFamily(topics.join('join-1')), 'join');
  assert.equal(topicFamily('fleet/v1/else'), 'other');
});

test('an oversized heartbeat is dropped with a log line naming client, topic and size', () => {
  const { g, lines } = guard();
  const conn = {};
  const hb = topics.heartbeat('n1');
  assert.equal(g.check(conn, 'n1', 'node', hb, PAYLOAD_CAPS.hb), 'accept');
  assert.equal(g.check(conn, 'n1', 'node', hb, PAYLOAD_CAPS.hb + 1), 'drop');
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
  assert.deepEqual(
    [line.msg, line.clientId, line.topic, line.bytes, line.cap],
    ['payload too large', 'n1', hb, PAYLOAD_CAPS.hb + 1, PAYLOAD_CAPS.hb],
  );
});

test('an agent heartbeating every 100 ms with status bursts for a minute is never limited', () => {
  const { g, lines, tick } = guard();
  const conn = {};
  for (let i = 0; i < 600; i++) {
    assert.equal(g.check(conn, 'n1', 'node', topics.heartbeat('n1'), 40), 'accept');
    // A burst of status messages every 10 s, e.g. tasks restarting.
    if (i % 100 === 0)
      for (let j = 0; j < 50; j++)
        assert.equal(g.check(conn, 'n1', 'node', topics.status('n1'), 20_000), 'accept');
    tick(100);
  }
  assert.deepEqual(lines, []);
});

test('a flooding client is dropped past its burst, then cut off with one log line', () => {
  const { g, lines, tick } = guard();
  const conn = {};
  const hb = topics.heartbeat('n1');
  const limit = RATE_LIMITS.node;
  const verdicts: string[] = [];
  for (let i = 0; i < limit.msgBurst + limit.disconnectAfterDrops + 10; i++) {
    verdicts.push(g.check(conn, 'n1', 'node', hb, 40));
    if (i % 10 === 0) tick(1); // 10,000 messages a second
  }
  const count = (v: string): number => verdicts.filter((x) => x === v).length;
  assert.ok(count('accept') >= limit.msgBurst && count('accept') < limit.msgBurst + 5);
  assert.equal(count('drop'), limit.disconnectAfterDrops - 1);
  assert.ok(count('disconnect') >= 1);
  assert.equal(verdicts.at(-1), 'disconnect', 'stays cut off');
  const cut = lines.filter((l) => l.includes('disconnecting n1: flooding, '));
  assert.equal(cut.length, 1);
  assert.match(cut[0] ?? '', /flooding, \d+ messages in 1s/);
  // A new connection starts with a full bucket.
  assert.equal(g.check({}, 'n1', 'node', hb, 40), 'accept');
});

test('the bucket refills: a client that pauses is served again', () => {
  const { g, tick } = guard();
  const conn = {};
  const hb = topics.heartbeat('n1');
  for (let i = 0; i < RATE_LIMITS.node.msgBurst; i++) g.check(conn, 'n1', 'node', hb, 40);
  assert.equal(g.check(conn, 'n1', 'node', hb, 40), 'drop');
  tick(1_000);
  assert.equal(g.check(conn, 'n1', 'node', hb, 40), 'accept');
});
