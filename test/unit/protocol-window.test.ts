// The protocol window: a manager serves agents one protocol version either side of its own, and says what to install otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../shared/clock.js';
import { noticeSchema, protocolVerdict, PROTOCOL_VERSION } from '../../shared/protocol-version.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import { memoryLogger } from '../../shared/log.js';
import { topics } from '../../shared/protocol.js';
import type { NodeRecord } from '../../shared/spec.js';
import { ProtocolGate } from '../../manager/dispatcher/protocol-gate.js';
import type { Broker } from '../../manager/broker/broker.js';
import type { Command } from '../../manager/store/commands.js';
import type { StoreView } from '../../manager/store/view.js';
import { nodeRecord } from '../helpers/records.js';

const agent = (protocolVersion?: number) => ({ agentVersion: '0.0.9', protocolVersion });

test('a manager serves its own protocol and one either side; an agent that says none speaks 1', () => {
  for (const p of [4, 5, 6]) assert.deepEqual(protocolVerdict(agent(p), [], 5), { ok: true });
  assert.deepEqual(protocolVerdict(agent(undefined), [], 2), { ok: true });
  assert.equal(protocolVerdict(agent(undefined), [], 3).ok, false);
  assert.equal(protocolVerdict(agent(3), [], 5).ok, false);
  assert.equal(protocolVerdict(agent(7), [], 5).ok, false);
});

test('an old agent is told to install the newest release of the manager protocol', () => {
  const releases = [
    { version: '0.4.0', protocolVersion: 4 },
    { version: '0.5.0', protocolVersion: 5 },
    { version: '0.5.2', protocolVersion: 5 },
    { version: '0.6.0', protocolVersion: 6 },
    { version: '0.9.0', protocolVersion: 9 },
  ];
  const v = protocolVerdict(agent(2), releases, 5);
  assert.deepEqual(v, {
    ok: false,
    message:
      'agent 0.0.9 speaks protocol 2; this manager speaks 5 and serves agents of protocol 4 to 6: install agent release 0.5.2 (fleet agent release ls)',
  });
  const none = protocolVerdict(agent(2), [], 5);
  assert.match(none.ok ? '' : none.message, /install an agent release of protocol 5 \(none pushed/);
});

test('a newer agent is told to upgrade the managers', () => {
  const v = protocolVerdict(agent(9), [], 5);
  assert.match(v.ok ? '' : v.message, /speaks protocol 9; .*: upgrade the managers/);
});

test('the gate refuses an agent outside the window: its node goes down with the reason, the agent hears it', async () => {
  const clock = new FakeClock(1000);
  let node: NodeRecord = nodeRecord('n1', { status: 'ready' });
  const proposed: Command[] = [];
  const published: { topic: string; payload: Buffer }[] = [];
  const store = {
    node: (id: string) => (id === node.id ? node : undefined),
    releases: () => [],
  } as unknown as StoreView;
  const broker = {
    publish: (topic: string, payload: Buffer) => {
      published.push({ topic, payload });
      return Promise.resolve();
    },
  } as unknown as Broker;
  const propose = (p: { commands: Command[] }) => {
    proposed.push(...p.commands);
    for (const c of p.commands) if (c.type === 'node.put') node = c.node;
    return Promise.resolve({} as never);
  };
  const logger = memoryLogger();
  const gate = new ProtocolGate(
    { store, propose, broker, clock },
    new RateLimitedLog(logger, 5_000, clock),
  );
  const info = (protocolVersion: number) => ({
    resources: { cpus: 1, memoryBytes: 1 },
    platform: { os: 'linux', arch: 'arm64' },
    runtime: 'process' as const,
    address: '127.0.16.2',
    agentVersion: '0.0.9',
    protocolVersion,
    diskFull: false,
  });
  assert.equal(gate.refuses('n1', info(PROTOCOL_VERSION + 2)), true);
  assert.equal(gate.isRefused('n1'), true);
  await new Promise((r) => setImmediate(r));
  assert.equal(node.status, 'down');
  assert.match(node.statusMessage, /speaks protocol 3; this manager speaks 1/);
  assert.equal(node.protocolVersion, 3);
  assert.equal(published[0]?.topic, topics.notice('n1'));
  const notice = noticeSchema.parse(JSON.parse(String(published[0]?.payload)));
  assert.equal(notice.message, node.statusMessage);
  assert.equal(gate.refuses('n1', info(PROTOCOL_VERSION)), false, 'an upgraded agent is served');
  assert.equal(gate.isRefused('n1'), false);
  assert.equal(proposed.length, 1);
});
