// Fault orders end to end: a manager with --allow-chaos and two process-runtime agents (one allowing faults,
// one not) take signed orders through chaos.send; each fault shows in `node ls` or the stats, and ends by itself.
// test-lane: own-addresses
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { connectClient, type RpcClient } from '../../manager/cli/rpc-client.js';
import { loadIdentity } from '../../manager/cli/connection.js';
import { sendChaos } from '../../manager/cli/chaos-client.js';
import { AGENT_NOT_ALLOWED } from '../../agent/chaos/agent-chaos.js';
import { fillFile, freeBytes } from '../../agent/chaos/fill-disk.js';
import { systemClock } from '../../shared/clock.js';
import type { Identity } from '../../shared/identity.js';
import type { ChaosResult, Fault } from '../../shared/chaos.js';
import {
  cli,
  cliJson,
  cliOk,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  type AgentProc,
  type ManagerProc,
  type NodeJson,
} from '../helpers/cluster.js';
import { killTasksOf, processesWithEnv } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const MANAGER_HOST = '127.0.42.1';
const ALLOWING = '127.0.42.2';
const REFUSING = '127.0.42.3';
const MiB = 1024 * 1024;

type TaskRow = { id: string; node: string | null; state: string; restarts: number };

describe('fault orders', () => {
  let m: ManagerProc;
  let a: AgentProc;
  let b: AgentProc;
  let admin: Identity;
  let client: RpcClient;
  let engineMark = '';
  const ids = { a: '', b: '', manager: '' };

  const order = (target: string, fault: Fault, durationMs: number, params = {}) =>
    sendChaos(client, admin, target, fault, durationMs, params, systemClock);
  const status = async (id: string): Promise<string | undefined> =>
    (await cliJson<NodeJson[]>(m, ['node', 'ls'])).find((n) => n.id === id)?.status;
  const downThenUp = async (id: string, what: string): Promise<void> => {
    await waitFor(async () => (await status(id)) === 'down', {
      what: `${what}: the node marked down`,
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    await waitFor(async () => (await status(id)) === 'ready', {
      what: `${what}: the node ready again`,
      timeoutMs: 20_000,
      intervalMs: 200,
    });
  };

  before(async () => {
    m = await startManager({
      host: MANAGER_HOST,
      heartbeat: '500ms',
      worker: true,
      extraArgs: ['--allow-chaos', '--runtime', 'process'],
    });
    const common = { manager: m.address, token: m.workerToken, runtime: 'process' as const };
    const removeOnStop = ['--remove-tasks-on-stop'];
    engineMark = path.join(tempDir('chaos-engine'), 'restarted');
    a = startAgent({
      ...common,
      name: 'chaos-a',
      address: ALLOWING,
      extraArgs: [
        ...removeOnStop,
        '--allow-chaos',
        '--chaos-engine-restart',
        `echo "$FLEET_CHAOS_DOWN_MS" > ${engineMark}`,
      ],
    });
    b = startAgent({ ...common, name: 'chaos-b', address: REFUSING, extraArgs: removeOnStop });
    const nodes = await waitFor(
      async () => {
        const ns = await cliJson<NodeJson[]>(m, ['node', 'ls']);
        const ready = ns.filter((n) => n.name.startsWith('chaos-') && n.status === 'ready');
        return ready.length === 2 ? ns : null;
      },
      { what: 'both agents ready', timeoutMs: 30_000, intervalMs: 200 },
    );
    ids.a = nodes.find((n) => n.name === 'chaos-a')?.id ?? '';
    ids.b = nodes.find((n) => n.name === 'chaos-b')?.id ?? '';
    admin = await loadIdentity(m.identity);
    client = await connectClient({ hosts: [m.address], identity: admin, timeoutMs: 10_000 });
    ids.manager = (await client.call('cluster.info', {})).managerId;
  });

  after(async () => {
    await client?.close();
    await Promise.all([a, b].filter(Boolean).map((x) => stopProc(x.proc)));
    if (m) await stopProc(m.proc);
    await killTasksOf(ALLOWING);
    await killTasksOf(REFUSING);
    await killTasksOf(MANAGER_HOST);
  });

  test('an agent without --allow-chaos refuses faults but answers stats', async () => {
    const refused = await order(ids.b, 'partition', 1000);
    assert.equal(refused.ok, false);
    assert.equal(refused.error, AGENT_NOT_ALLOWED);
    const stats = await order(ids.b, 'stats', 0);
    assert.equal(stats.ok, true, stats.error);
    assert.ok((stats.stats?.rssBytes ?? 0) > 0);
    assert.ok((stats.stats?.openFiles ?? 0) > 0);
    assert.deepEqual(stats.stats?.active, []);
  });

  test('an order for a node that is not connected is an error naming the node', async () => {
    await assert.rejects(
      sendChaos(client, admin, 'no-such-node', 'stats', 0, {}, systemClock, 300),
      /no-such-node did not answer/,
    );
  });

  test('kill-agent: the node goes down and comes back in the same process; its task ran on meanwhile', async () => {
    await cliOk(m, [
      'service',
      'create',
      '--detach',
      '--name',
      'chaos-sleep',
      '--constraint',
      `node.id==${ids.a}`,
      'none',
      'sleep',
      '600',
    ]);
    const running = await waitFor(
      async () =>
        (await cliJson<TaskRow[]>(m, ['service', 'ps', 'chaos-sleep'])).find(
          (t) => t.state === 'running',
        ),
      { what: 'the task running', timeoutMs: 30_000, intervalMs: 200 },
    );
    const before = await order(ids.a, 'stats', 0);
    assert.deepEqual(before.stats?.running, [running.id]);
    const pid = before.stats?.pid;

    const taskPids = await processesWithEnv(`FLEET_HOST_IP=${ALLOWING}`);
    assert.equal(taskPids.length, 1, 'one task process');

    const killed = await order(ids.a, 'kill-agent', 3000);
    assert.equal(killed.ok, true, killed.error);
    assert.ok((killed.until ?? 0) > Date.now());
    await waitFor(async () => (await status(ids.a)) === 'down', {
      what: 'kill-agent: the node marked down',
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    // The agent is down (for 3 s): the task it started runs on, as a container outlives its agent.
    assert.deepEqual(await processesWithEnv(`FLEET_HOST_IP=${ALLOWING}`), taskPids);
    await waitFor(async () => (await status(ids.a)) === 'ready', {
      what: 'kill-agent: the node ready again',
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    const afterKill = await order(ids.a, 'stats', 0);
    assert.equal(afterKill.stats?.pid, pid, 'the agent restarted inside its process');
    const tasks = await cliJson<TaskRow[]>(m, ['service', 'ps', 'chaos-sleep']);
    const old = tasks.find((t) => t.id === running.id);
    assert.equal(old?.restarts, running.restarts, 'the task was not restarted by its agent');
    // The manager ended the task of the node that went down; the slot runs again on the node.
    await waitFor(
      async () =>
        (await cliJson<TaskRow[]>(m, ['service', 'ps', 'chaos-sleep'])).some(
          (t) => t.state === 'running' && t.node === ids.a,
        ),
      { what: 'the service running on the node again', timeoutMs: 20_000, intervalMs: 200 },
    );
  });

  test('partition: the node is cut off, marked down, and reconnects when it ends', async () => {
    const cut = await order(ids.a, 'partition', 3000);
    assert.equal(cut.ok, true, cut.error);
    assert.deepEqual(
      cut.stats?.active.map((f) => f.fault),
      ['partition'],
    );
    await downThenUp(ids.a, 'partition');
  });

  test('skew-clock: the agent reports its clock off by the offset, then right again', async () => {
    const skewed = await order(ids.a, 'skew-clock', 3000, { offsetMs: 120_000 });
    assert.equal(skewed.ok, true, skewed.error);
    const off = (skewed.stats?.now ?? 0) - Date.now();
    assert.ok(off > 110_000 && off < 130_000, `stats.now is off by ${off} ms`);
    const again = await order(ids.a, 'skew-clock', 3000);
    assert.match(again.error ?? '', /already in force/);
    await waitFor(
      async () => {
        const s = await order(ids.a, 'stats', 0);
        return (
          s.stats && Math.abs(s.stats.now - Date.now()) < 10_000 && s.stats.active.length === 0
        );
      },
      { what: 'the skew undone', timeoutMs: 10_000, intervalMs: 250 },
    );
  });

  test('restart-engine runs the command given, with the time to stay down', async () => {
    const r = await order(ids.a, 'restart-engine', 1234);
    assert.equal(r.ok, true, r.error);
    const written = await waitFor(() => fs.readFile(engineMark, 'utf8'), {
      what: 'the engine restart command run',
      timeoutMs: 5_000,
    });
    assert.equal(written.trim(), '1234');
  });

  test('drop at rate 1: heartbeats stop, the node is marked down, and it recovers', async () => {
    const dropped = await order(ids.a, 'drop', 5000, { rate: 1 });
    assert.equal(dropped.ok, true, dropped.error);
    await downThenUp(ids.a, 'drop');
  });

  test('fill-disk leaves the free space asked for, and the file goes when it ends', async () => {
    const file = fillFile(a.dataDir);
    const leaveBytes = (await freeBytes(a.dataDir)) - 8 * MiB;
    const filled: ChaosResult = await order(ids.a, 'fill-disk', 3000, { leaveBytes });
    assert.equal(filled.ok, true, filled.error);
    const size = await waitFor(
      async () => {
        const s = (await fs.stat(file)).size;
        return s >= 7 * MiB ? s : null;
      },
      { what: 'the fill file written', timeoutMs: 10_000, intervalMs: 100 },
    );
    assert.ok(size <= 9 * MiB, `the file takes ${size} bytes, no more than it needs`);
    const free = await freeBytes(path.dirname(file));
    // Others write to this disk too: within a few MiB of what was asked.
    assert.ok(Math.abs(free - leaveBytes) < 4 * MiB, `${free} bytes free, asked ${leaveBytes}`);
    await waitFor(async () => !(await fs.stat(file).catch(() => null)), {
      what: 'the fill file removed',
      timeoutMs: 10_000,
      intervalMs: 200,
    });
  });

  test('a manager passes agent faults aimed at its node to the agent beside it, and keeps its own', async () => {
    const skewed = await order(ids.manager, 'skew-clock', 1000, { offsetMs: -60_000 });
    assert.equal(skewed.ok, true, skewed.error);
    assert.deepEqual(skewed.stats?.running, [], 'answered by the worker agent');
    const off = (skewed.stats?.now ?? 0) - Date.now();
    assert.ok(off < -50_000 && off > -70_000, `stats.now is off by ${off} ms`);
    const own = await order(ids.manager, 'stats', 0);
    assert.equal(own.ok, true, own.error);
    assert.equal(own.stats?.running, undefined, 'answered by the manager');
    const noEngine = await order(ids.manager, 'restart-engine', 1000);
    assert.match(noEngine.error ?? '', /start it with --chaos-engine-restart CMD/);
    const alone = await order(ids.manager, 'partition-manager', 1000);
    assert.deepEqual(
      [alone.ok, alone.error],
      [false, 'this manager has no other manager to be cut off from'],
    );
    await assert.rejects(order(ids.a, 'kill-manager', 1000), /send it to manager/);
  });

  test('restart-manager: the manager answers, stops, and comes back serving', async () => {
    const pinned = await connectClient({
      hosts: [m.address],
      identity: admin,
      timeoutMs: 10_000,
      pinned: true,
    });
    try {
      const r = await sendChaos(
        pinned,
        admin,
        ids.manager,
        'restart-manager',
        1500,
        {},
        systemClock,
      );
      assert.equal(r.ok, true, r.error);
      assert.ok(r.stats && r.stats.pid > 0);
    } finally {
      await pinned.close();
    }
    await waitFor(async () => (await cli(m, ['node', 'ls'], 2_000)).code !== 0, {
      what: 'the manager stopped',
      timeoutMs: 5_000,
      intervalMs: 50,
    });
    const listed = await waitFor(
      async () => (await cliJson<NodeJson[]>(m, ['node', 'ls'])).length,
      { what: 'node ls answered by the manager started again', timeoutMs: 20_000, intervalMs: 200 },
    );
    assert.ok(listed >= 2, `${listed} nodes listed`);
    assert.equal(m.proc.exitCode, null, 'the same manager process');
  });
});
