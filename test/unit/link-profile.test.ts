// Link profiles: timings per profile, the manager's override, metered health, and an agent that sends only what changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatusReporter } from '../../agent/reconcile/reporter.js';
import { freshLocal, type LocalTask } from '../../agent/reconcile/local-state.js';
import { HealthTracker } from '../../manager/dispatcher/health.js';
import { NodeLinks } from '../../manager/dispatcher/node-links.js';
import { FakeClock } from '../../shared/clock.js';
import {
  agentKeepaliveS,
  describeDetection,
  linkTiming,
  nodeLinkTiming,
  withLinkUpdate,
  type AssignmentLink,
  type NodeLinkFields,
} from '../../shared/link-profile.js';
import { decode, statusSchema, topics } from '../../shared/protocol.js';
import type { NodeRecord } from '../../shared/spec.js';

test('the default profile beats every cluster period and is down after three; metered is down ~31 min after its last ping', () => {
  const d = linkTiming('default', 2_000);
  assert.deepEqual([d.heartbeatMs, d.keepaliveS, d.detectionMs], [2_000, 5, 6_000]);
  assert.equal(describeDetection(d), '~6 s');
  const m = linkTiming('metered', 2_000);
  assert.equal(m.heartbeatMs, 0, 'no heartbeat messages: the keepalive is the heartbeat');
  assert.equal(m.keepaliveS, 1_200);
  assert.equal(m.detectionMs, 1_800_000 + 60_000, 'the broker waits 1.5 keepalives, then a minute');
  assert.equal(describeDetection(m), '~31 min (metered)');
  assert.equal(describeDetection(linkTiming('metered', 2_000, 2)), '~5 s (metered)');
});

test("the manager's profile wins over the agent's; auto and a keepalive of 0 return to the defaults", () => {
  const announced: NodeLinkFields = { announcedProfile: 'metered' };
  assert.equal(nodeLinkTiming(announced, 2_000).profile, 'metered');
  const imposed = withLinkUpdate(announced, { profile: 'default' });
  assert.equal(nodeLinkTiming(imposed, 2_000).profile, 'default');
  const back = withLinkUpdate(imposed, { profile: 'auto', keepaliveS: 90 });
  assert.equal(back.profile, undefined);
  assert.equal(nodeLinkTiming(back, 2_000).keepaliveS, 90);
  assert.equal(withLinkUpdate(back, { keepaliveS: 0 }).keepaliveS, undefined);
  assert.equal(agentKeepaliveS(undefined, 'metered'), 1_200, 'before any assignment: its own');
  const link = { profile: 'metered' as const, keepaliveS: 30 };
  assert.equal(agentKeepaliveS({ link }, 'default'), 30);
  assert.equal(agentKeepaliveS({}, 'metered'), 5, 'a manager that predates profiles');
});

test('a metered node is heard while its connection stands and is down a grace after the broker drops it', () => {
  const nodes = new Map<string, Partial<NodeRecord>>([
    ['m', { id: 'm', role: 'worker', profile: 'metered', keepaliveS: 10 }],
    ['d', { id: 'd', role: 'worker' }],
  ]);
  const connected = new Set(['m', 'd']);
  const links = new NodeLinks({
    node: (id) => nodes.get(id) as NodeRecord | undefined,
    heartbeatMs: 1_000,
    isConnected: (c) => connected.has(c),
  });
  assert.deepEqual(links.assignmentFields('m'), {
    heartbeatMs: 10_000,
    link: { profile: 'metered', keepaliveS: 10 },
  });
  assert.deepEqual(links.assignmentFields('d').link, { profile: 'default', keepaliveS: 5 });
  const h = new HealthTracker(1_000, 3, (id) => links.healthTiming(id));
  h.beat('m', 0);
  h.beat('d', 0);
  for (let t = 250; t <= 60_000; t += 250) {
    if (links.heardByConnection(nodes.get('m') as NodeRecord)) h.beat('m', t);
    assert.equal(h.check('m', t), null, `metered node up at ${t} ms while connected`);
  }
  assert.match(h.check('d', 3_000)?.message ?? '', /no heartbeat/, 'the default node is down');
  connected.delete('m');
  h.disconnected('m', 60_000);
  assert.equal(h.check('m', 69_999), null, 'a drop is given one keepalive (at most a minute)');
  assert.equal(h.check('m', 70_000)?.message, 'connection lost');
});

function reporter(clock: FakeClock, link?: AssignmentLink, assigned?: () => number | null) {
  const sent: { topic: string; payload: Buffer }[] = [];
  const tasks = new Map<string, LocalTask>([['t1', { ...freshLocal(0), state: 'running' }]]);
  const r = new StatusReporter({
    nodeId: 'n1',
    clock,
    random: () => 0.5,
    publish: (topic, payload) => sent.push({ topic, payload }) > 0,
    connected: () => true,
    info: () => ({ os: 'linux', arch: 'arm64', cpus: 4, memoryBytes: 1e9, version: '1' }),
    tasks: () => tasks,
    assignment: () => {
      const heartbeatMs = assigned ? assigned() : 2_000;
      return heartbeatMs === null ? null : { version: 3, heartbeatMs, ...(link ? { link } : {}) };
    },
    diskFull: () => false,
    closing: () => false,
    runtimeName: 'process',
    address: '127.0.27.2',
    profile: link?.profile ?? 'default',
  });
  const count = (topic: string) => sent.filter((s) => s.topic === topic).length;
  return { r, sent, tasks, count };
}

test('an agent sends its status only when it changed, on a new connection, or after the refresh period', () => {
  const clock = new FakeClock(0);
  const { r, tasks, count, sent } = reporter(clock);
  const status = topics.status('n1');
  r.sendStatus(true);
  for (let i = 0; i < 30; i++) {
    clock.advance(10_000);
    r.sendStatus();
  }
  assert.equal(count(status), 1, 'five idle minutes: nothing new to say');
  const first = decode(statusSchema, sent[0]?.payload ?? Buffer.alloc(0));
  assert.ok(first.ok);
  assert.equal(first.value.node?.profile, 'default', 'the profile is announced');
  tasks.set('t1', { ...freshLocal(0), state: 'failed', exitCode: 1 });
  r.sendStatus();
  assert.equal(count(status), 2, 'a task changed');
  r.sendStatus(true);
  assert.equal(count(status), 3, 'a new connection gets the full picture');
  clock.advance(30 * 60_000);
  r.sendStatus();
  assert.equal(count(status), 4, 'refreshed after half an hour');
});

test('a metered agent sends no heartbeats; a default one beats every period', () => {
  const clock = new FakeClock(0);
  const metered = reporter(clock, { profile: 'metered', keepaliveS: 1_200 });
  const plain = reporter(clock, { profile: 'default', keepaliveS: 5 });
  metered.r.startHeartbeats();
  plain.r.startHeartbeats();
  clock.advance(60_000);
  assert.equal(metered.count(topics.heartbeat('n1')), 0);
  assert.ok(plain.count(topics.heartbeat('n1')) >= 30);
  metered.r.close();
  plain.r.close();
});

test("the first assignment's shorter heartbeat period takes effect at once, not after the default one", () => {
  const clock = new FakeClock(0);
  let period: number | null = null;
  const { r, count } = reporter(clock, undefined, () => period);
  const hb = topics.heartbeat('n1');
  r.startHeartbeats();
  clock.advance(1);
  assert.equal(count(hb), 1, 'a beat on connecting');
  // Timed with the 2 s default; the manager then asks for 250 ms and allows 1 s of silence.
  period = 250;
  r.periodMayHaveChanged();
  clock.advance(1);
  assert.equal(count(hb), 2, 'a beat at once under the new period');
  clock.advance(998);
  assert.ok(count(hb) >= 5, `beats every 250 ms from then on (${count(hb)})`);
  r.periodMayHaveChanged();
  const before = count(hb);
  clock.advance(1);
  assert.equal(count(hb), before, 'the same period changes nothing');
  r.close();
});
