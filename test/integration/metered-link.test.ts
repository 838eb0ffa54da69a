// Link profiles end to end: a metered agent's negotiated keepalive, silence while idle, slower detection in `node ls`
// and down once the broker drops it; the manager's override of a default agent, and its heartbeat-based detection.
// test-lane: own-addresses
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import {
  cli,
  cliJson,
  cliOk,
  readLog,
  startAgent,
  startManager,
  stopProc,
  type NodeJson,
} from '../helpers/cluster.js';
import { startCountingLink } from '../helpers/counting-link.js';
import { killTasksOf } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const MANAGER_HOST = '127.0.27.41';
const RELAY_HOST = '127.0.27.42';
const AGENT_ADDRESS = '127.0.27.43';
/** Long enough for a sweep of the agent (every 10 s) and several keepalive periods. */
const IDLE_MS = 12_000;

type NodeWithLink = NodeJson & { profile?: string; detection?: string; statusMessage?: string };

// Two managers on their own addresses: the tests run side by side.
describe('metered links', { concurrency: true }, () => {
  test('a metered agent sends only keepalives while idle and is marked down once the broker drops it', async (t) => {
    // Plain MQTT, so the relay between agent and manager can tell the packets apart.
    const m = await startManager({ host: MANAGER_HOST, insecure: true });
    const link = await startCountingLink(RELAY_HOST, m.address, { parseMqtt: true });
    const agent = startAgent({
      manager: link.address,
      token: m.workerToken,
      name: 'metered-1',
      address: AGENT_ADDRESS,
      runtime: 'process',
      extraArgs: ['--profile', 'metered', '--insecure', '--remove-tasks-on-stop'],
      env: { FLEET_INSECURE: '1' },
    });
    t.after(async () => {
      agent.proc.kill('SIGCONT');
      await stopProc(agent.proc);
      await killTasksOf(AGENT_ADDRESS);
      await link.close();
      await stopProc(m.proc);
      for (const d of [m.dataDir, agent.dataDir]) await fs.rm(d, { recursive: true, force: true });
    });
    const inspect = () => cliJson<NodeWithLink>(m, ['node', 'inspect', 'metered-1']);
    const ready = await waitFor(
      async () => ((await inspect()).status === 'ready' ? inspect() : null),
      {
        what: 'the metered agent to be ready',
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    assert.equal(ready.profile, 'metered', 'the profile the agent announced');
    assert.equal(ready.detection, '~31 min (metered)');
    assert.match(await cliOk(m, ['node', 'ls']), /metered-1 .* ~31 min \(metered\)/);

    await cliOk(
      m,
      ['service', 'create', '--detach', '--name', 'quiet', '--replicas', '2'].concat([
        '--constraint',
        `node.id==${ready.id}`,
        'none',
        'sleep',
        '600',
      ]),
    );
    await waitFor(
      async () =>
        (await cliJson<{ state: string }[]>(m, ['service', 'ps', 'quiet'])).filter(
          (x) => x.state === 'running',
        ).length === 2,
      { what: 'both tasks running', timeoutMs: 30_000, intervalMs: 250 },
    );

    // The manager asks for a 2 s keepalive: the agent connects again once, with it.
    const connections = link.counts().accepted;
    await cliOk(m, ['node', 'update', '--keepalive', '2s', 'metered-1']);
    await waitFor(() => link.counts().accepted > connections, {
      what: 'the agent to reconnect with the new keepalive',
      timeoutMs: 15_000,
    });
    assert.match(await readLog(agent.log), /reconnecting with the keepalive the manager asks for/);
    assert.equal((await inspect()).detection, '~5 s (metered)', '1.5 keepalives and a 2 s grace');
    await waitFor(async () => (await inspect()).status === 'ready', { what: 'ready again' });

    const before = link.counts();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const after = link.counts();
    const sent = (kind: string): number =>
      (after.kinds.get(kind)?.packets ?? 0) - (before.kinds.get(kind)?.packets ?? 0);
    assert.equal(sent('publish fleet/v1/nodes/+/hb up'), 0, 'no heartbeat messages');
    assert.equal(sent('publish fleet/v1/nodes/+/status up'), 0, 'no status that did not change');
    assert.ok(sent('pingreq up') >= 3, `keepalives every 2 s (saw ${sent('pingreq up')})`);
    assert.equal(after.accepted, before.accepted, 'no reconnects while idle');
    assert.equal((await inspect()).status, 'ready', 'still ready after an idle window');

    // A frozen agent sends no PINGREQ: the broker drops it after 1.5 keepalives, the manager
    // marks it down.
    agent.proc.kill('SIGSTOP');
    const down = await waitFor(
      async () => {
        const n = await inspect();
        return n.status === 'down' ? n : null;
      },
      { what: 'the frozen metered node to be marked down', timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.equal(down.statusMessage, 'connection lost', 'found by the broker dropping it');
    agent.proc.kill('SIGCONT');
    await waitFor(async () => (await inspect()).status === 'ready', {
      what: 'the agent back and ready',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const r = await cli(m, ['service', 'rm', 'quiet']);
    assert.equal(r.code, 0, r.stderr);
  });

  test("the manager's profile quiets a default agent and auto gives it back; a frozen default agent is down by missed heartbeats", async (t) => {
    const m = await startManager({ host: '127.0.27.45', insecure: true });
    const link = await startCountingLink('127.0.27.46', m.address, { parseMqtt: true });
    const agent = startAgent({
      manager: link.address,
      token: m.workerToken,
      name: 'plain-1',
      address: '127.0.27.47',
      runtime: 'process',
      extraArgs: ['--insecure', '--remove-tasks-on-stop'],
      env: { FLEET_INSECURE: '1' },
    });
    t.after(async () => {
      agent.proc.kill('SIGCONT');
      await stopProc(agent.proc);
      await killTasksOf('127.0.27.47');
      await link.close();
      await stopProc(m.proc);
      for (const d of [m.dataDir, agent.dataDir]) await fs.rm(d, { recursive: true, force: true });
    });
    const inspect = () => cliJson<NodeWithLink>(m, ['node', 'inspect', 'plain-1']);
    const heartbeats = () =>
      link.counts().kinds.get('publish fleet/v1/nodes/+/hb up')?.packets ?? 0;
    const beatsAgain = async (what: string) => {
      const from = heartbeats();
      await waitFor(() => heartbeats() >= from + 2, { what, timeoutMs: 15_000 });
    };
    await waitFor(async () => (await inspect()).status === 'ready', {
      what: 'the agent to be ready',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    assert.deepEqual([(await inspect()).profile, (await inspect()).detection], ['default', '~6 s']);
    await beatsAgain('heartbeats of the default profile');

    const connections = link.counts().accepted;
    await cliOk(m, ['node', 'update', '--profile', 'metered', '--keepalive', '2s', 'plain-1']);
    await waitFor(() => link.counts().accepted > connections, {
      what: 'the agent to reconnect with the metered keepalive',
      timeoutMs: 15_000,
    });
    assert.equal((await inspect()).detection, '~5 s (metered)');
    await waitFor(async () => (await inspect()).status === 'ready', { what: 'ready again' });
    const quietFrom = heartbeats();
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    assert.equal(heartbeats(), quietFrom, 'no heartbeats once the manager says metered');

    await cliOk(m, ['node', 'update', '--profile', 'auto', '--keepalive', '0', 'plain-1']);
    await beatsAgain("heartbeats again once the profile is the agent's own (default)");
    assert.equal((await inspect()).detection, '~6 s');

    agent.proc.kill('SIGSTOP');
    const down = await waitFor(
      async () => {
        const n = await inspect();
        return n.status === 'down' ? n : null;
      },
      { what: 'the frozen default node to be marked down', timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.match(down.statusMessage ?? '', /no heartbeat/, 'found by missed heartbeats');
  });
});
