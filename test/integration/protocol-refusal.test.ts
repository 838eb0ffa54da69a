// An agent the manager refuses for its protocol: the reason reaches the user in node ls and node inspect, not only the manager's log.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeView } from '../../shared/api.js';
import { joinCluster } from '../../shared/join-client.js';
import { encode, topics, type StatusMessage } from '../../shared/protocol.js';
import { PROTOCOL_VERSION } from '../../shared/protocol-version.js';
import { cliJson, cliOk, startManager, stopProc } from '../helpers/cluster.js';
import { connectNode } from '../helpers/sim-agents.js';
import { waitFor } from '../helpers/wait.js';

const NAME = 'pi-from-the-future';

test('an agent refused for its protocol shows why in node ls and node inspect', async (t) => {
  const m = await startManager({ host: '127.0.25.120', heartbeat: '500ms' });
  t.after(() => stopProc(m.proc));
  const identity = await joinCluster({
    managers: [m.address],
    token: m.workerToken,
    name: NAME,
    address: '127.0.25.121',
    platform: { os: 'linux', arch: 'arm64' },
    labels: {},
    timeoutMs: 20_000,
  });
  const client = await connectNode(m.address, identity);
  client.on('error', () => undefined);
  t.after(() => client.endAsync(true));
  const status: StatusMessage = {
    v: 1,
    ts: Date.now(),
    assignmentVersion: 0,
    tasks: [],
    node: {
      resources: { cpus: 4, memoryBytes: 4 * 1024 ** 3 },
      platform: { os: 'linux', arch: 'arm64' },
      runtime: 'process',
      address: '127.0.25.121',
      agentVersion: '9.0.0',
      protocolVersion: PROTOCOL_VERSION + 2,
      diskFull: false,
    },
  };
  const timer = setInterval(() => {
    client.publish(topics.heartbeat(identity.id), encode({ v: 1, seq: 0, ts: Date.now() }));
    client.publish(topics.status(identity.id), encode({ ...status, ts: Date.now() }), { qos: 1 });
  }, 300);
  t.after(() => clearInterval(timer));

  const want = new RegExp(
    `agent 9\\.0\\.0 speaks protocol ${PROTOCOL_VERSION + 2}; this manager speaks ${PROTOCOL_VERSION}`,
  );
  const node = await waitFor(
    async () =>
      (await cliJson<NodeView[]>(m, ['node', 'ls'])).find(
        (n) => n.name === NAME && want.test(n.statusMessage),
      ),
    { what: 'the refused node with its reason', timeoutMs: 20_000, intervalMs: 250 },
  );
  assert.equal(node.status, 'down');
  assert.equal(node.protocolVersion, PROTOCOL_VERSION + 2);
  const line = await cliOk(m, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.Message}}']);
  assert.match(line, new RegExp(`${NAME} Down ${want.source}`));
  const pretty = await cliOk(m, ['node', 'inspect', '--pretty', NAME]);
  assert.match(pretty, want);
  // Still refused a few heartbeats later: nothing marks it ready or replaces the reason.
  await new Promise((r) => setTimeout(r, 1_500));
  const again = (await cliJson<NodeView[]>(m, ['node', 'ls'])).find((n) => n.name === NAME);
  assert.equal(again?.status, 'down');
  assert.match(again?.statusMessage ?? '', want);
});
