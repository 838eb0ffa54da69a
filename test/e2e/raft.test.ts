// Docker e2e of the replicated managers: kill -9 the leader under two docker agents, then a lagging manager catches up from a snapshot.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { connectClient, type RpcClient } from '../../manager/cli/rpc-client.js';
import { loadIdentity } from '../../manager/cli/connection.js';
import { errorMessage } from '../../shared/errors.js';
import {
  cli,
  cliJson,
  cliOk,
  clusterTarget,
  readLog,
  restartManager,
  startAgent,
  startManagers,
  stopProc,
  waitForNodes,
  type AgentProc,
  type ManagerJson,
  type ManagerProc,
  type NodeJson,
  type TaskJson,
} from '../helpers/cluster.js';
import {
  TEST_IMAGE,
  cleanupContainers,
  ensureTestImage,
  requireDocker,
  taskContainers,
  type TaskContainer,
} from '../helpers/docker.js';
import { waitFor } from '../helpers/wait.js';

const SERVICE = 'raft-web';
const SNAPSHOT_INTERVAL = 50;
const MANAGER_ARGS = ['--snapshot-interval', String(SNAPSHOT_INTERVAL)];
/** How long agent nodes are watched after the leader dies. */
const WATCH_MS = 10_000;
const DATA = Buffer.from('raft e2e\n').toString('base64');

/** The service's containers as the engine sees them (running or not). */
const serviceContainers = (): Promise<TaskContainer[]> => taskContainers(SERVICE, { all: true });

const runningTasks = (tasks: TaskJson[]): TaskJson[] =>
  tasks.filter((x) => x.desiredState === 'running' && x.state === 'running');

test(
  'docker agents ride out a kill -9 of the leader; the killed manager catches up from a snapshot',
  { timeout: 300_000 },
  async (t: TestContext) => {
    if (!(await requireDocker(t))) return;
    await ensureTestImage();

    let managers: ManagerProc[] = [];
    const agents: AgentProc[] = [];
    const nodeIds: string[] = [];
    const clients: RpcClient[] = [];
    let passed = false;
    t.after(async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      const alive = managers.filter((m) => m.proc.exitCode === null && m.proc.signalCode === null);
      if (alive.length > 0)
        await cli(clusterTarget(alive), ['service', 'rm', SERVICE], 15_000).catch(() => undefined);
      await Promise.all(agents.map((a) => stopProc(a.proc)));
      await Promise.all(managers.map((m) => stopProc(m.proc, 'SIGKILL')));
      for (const id of nodeIds) await cleanupContainers(id);
      const files = [
        ...managers.flatMap((m) => [m.dataDir, m.log]),
        ...agents.flatMap((a) => [a.dataDir, a.log]),
      ];
      if (!passed)
        for (const m of managers) {
          const lines = (await readLog(m.log)).split('\n').filter((l) => !l.includes(' DEBUG '));
          t.diagnostic(`--- ${m.log}\n${lines.slice(-25).join('\n')}`);
        }
      if (process.env.FLEET_KEEP_LOGS) return console.log(`kept:\n  ${files.join('\n  ')}`);
      await Promise.all(files.map((f) => fs.rm(f, { recursive: true, force: true })));
    });

    managers = await startManagers(3, { extraArgs: MANAGER_ARGS });
    const first = managers[0];
    assert.ok(first);
    const all = clusterTarget(managers);
    for (const [name, address] of [
      ['raft-a', '127.0.0.2'],
      ['raft-b', '127.0.0.3'],
    ] as const) {
      agents.push(
        startAgent({
          manager: all.address,
          token: first.workerToken,
          name,
          address,
          runtime: 'docker',
          extraArgs: ['--remove-tasks-on-stop'],
        }),
      );
    }
    const nodes = await waitForNodes({ ...first, address: all.address }, 2, 30_000);
    nodeIds.push(...nodes.map((n) => n.id));

    await cliOk(all, ['service', 'create', '--name', SERVICE, '--replicas', '2', TEST_IMAGE]);
    const before = await waitFor(
      async () => {
        const cs = await serviceContainers();
        return cs.length === 2 && cs.every((c) => c.running) ? cs : null;
      },
      { what: 'two running containers', timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.equal(
      runningTasks(await cliJson<TaskJson[]>(all, ['service', 'ps', SERVICE])).length,
      2,
    );

    const views = await cliJson<ManagerJson[]>(all, ['manager', 'ls']);
    const leaderView = views.find((v) => v.leader);
    assert.ok(leaderView, 'a leader is listed');
    const killed = managers.find((m) => m.address === leaderView.address);
    assert.ok(killed);
    const others = managers.filter((m) => m !== killed);
    const survivors = clusterTarget(others);
    const client = await connectClient({
      hosts: others.map((m) => m.address),
      identity: await loadIdentity(first.identity),
      timeoutMs: 2_000,
    });
    clients.push(client);

    const killedAt = Date.now();
    killed.proc.kill('SIGKILL');
    let attempts = 0;
    let lastError = '';
    for (;;) {
      attempts++;
      try {
        await client.call('config.create', { name: 'after-failover', data: DATA });
        break;
      } catch (e) {
        lastError = errorMessage(e);
        // An attempt that reported an error may have been applied: a new one then finds it.
        if (/already exists/.test(lastError)) break;
        assert.ok(Date.now() - killedAt < 30_000, `a write succeeds within 30 s: ${lastError}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const failoverMs = Date.now() - killedAt;
    console.log(
      `failover: a new leader accepted a write ${failoverMs} ms after kill -9 of the leader (${attempts} attempt(s)${lastError ? `, last error: ${lastError}` : ''})`,
    );

    // No agent node is marked down while the managers change leader, and nothing restarts.
    const watchUntil = killedAt + WATCH_MS;
    let polls = 0;
    while (Date.now() < watchUntil) {
      // Through the open connection: a CLI process per poll would leave gaps of ~0.5 s.
      const listed = await client.call('node.ls', {});
      for (const id of nodeIds) {
        const n = listed.find((x) => x.id === id);
        assert.ok(n, `agent node ${id} is listed`);
        assert.notEqual(
          n.status,
          'down',
          `agent node ${n.name} was marked down after the failover`,
        );
      }
      polls++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const afterWatch = await serviceContainers();
    assert.deepEqual(afterWatch, before, 'the containers are the same, running, never restarted');
    console.log(`watched agent nodes for ${WATCH_MS} ms (${polls} polls): none marked down`);

    // `fleet node ls --format json`: each manager carries its address, leadership and reachability.
    const nodeList = await cliJson<NodeJson[]>(survivors, ['node', 'ls']);
    const managerNodes = nodeList.filter((n) => n.manager);
    assert.deepEqual(
      managerNodes.map((n) => n.manager?.address).sort(),
      managers.map((m) => m.address).sort(),
      'every manager is listed with its address',
    );
    const leaders = managerNodes.filter((n) => n.manager?.leader === true);
    assert.equal(leaders.length, 1, 'exactly one manager leads');
    const newLeader = leaders[0]?.manager;
    assert.ok(newLeader && newLeader.address !== killed.address, 'a survivor leads');
    assert.equal(newLeader.reachable, true);
    for (const n of managerNodes) {
      assert.equal(typeof n.manager?.reachable, 'boolean');
      assert.equal(
        n.manager?.reachable,
        n.manager?.address !== killed.address,
        `${n.manager?.address} reachable exactly when alive`,
      );
    }
    for (const id of nodeIds)
      assert.equal(nodeList.find((n) => n.id === id)?.manager, undefined, 'agents are no managers');

    // The agents follow the new leader: the last manager each agent connected or moved to is it.
    const lastConnection = (log: string): string | null => {
      const re = /(?:connected to manager address|moved to the leader from=\S+ to)="([^"]+)"/g;
      let last: string | null = null;
      for (const m of log.matchAll(re)) last = m[1] ?? null;
      return last;
    };
    for (const a of agents) {
      const at = await waitFor(
        async () => {
          const addr = lastConnection(await readLog(a.log));
          return addr === newLeader.address ? addr : null;
        },
        { what: `agent ${a.name} on the new leader`, timeoutMs: 20_000, intervalMs: 250 },
      );
      console.log(`agent ${a.name} follows the new leader at ${at}`);
    }

    await cliOk(survivors, ['service', 'scale', `${SERVICE}=3`]);
    const three = await waitFor(
      async () => {
        const tasks = runningTasks(
          await cliJson<TaskJson[]>(survivors, ['service', 'ps', SERVICE]),
        );
        const cs = await serviceContainers();
        return tasks.length === 3 && cs.filter((c) => c.running).length === 3 ? cs : null;
      },
      { what: 'a third task running after the failover', timeoutMs: 30_000, intervalMs: 250 },
    );
    for (const c of before)
      assert.ok(
        three.some((x) => x.id === c.id && x.startedAt === c.startedAt),
        `container ${c.id.slice(0, 12)} kept running through the scale-up`,
      );

    // More than a snapshot interval of writes while the killed manager is down.
    const WRITES = SNAPSHOT_INTERVAL * 2;
    for (let i = 0; i < WRITES; i++)
      await client.call('config.create', { name: `while-down-${i}`, data: DATA });
    const leaderNow = (await cliJson<ManagerJson[]>(survivors, ['manager', 'ls'])).find(
      (v) => v.leader,
    );
    assert.ok(leaderNow && leaderNow.appliedIndex !== null);
    console.log(
      `${WRITES} writes applied while the old leader was down; leader applied index ${leaderNow.appliedIndex}`,
    );

    const logBefore = (await readLog(killed.log)).length;
    const restartedAt = Date.now();
    const back = await restartManager(killed, MANAGER_ARGS);
    managers = [...others, back];
    const caughtUp = await waitFor(
      async () => {
        const list = await cliJson<ManagerJson[]>(clusterTarget(managers), ['manager', 'ls']);
        const leader = list.find((v) => v.leader);
        const me = list.find((v) => v.address === back.address);
        if (!leader || !me || !me.reachable || me.raft !== 'voter') return null;
        return me.appliedIndex !== null &&
          me.appliedIndex >= (leaderNow.appliedIndex ?? 0) &&
          me.appliedIndex === leader.appliedIndex
          ? me
          : null;
      },
      { what: 'the restarted manager to catch up', timeoutMs: 30_000, intervalMs: 250 },
    );
    console.log(
      `catch-up: the restarted manager reached applied index ${caughtUp.appliedIndex} ${Date.now() - restartedAt} ms after its start`,
    );
    const ownView = await cliJson<ManagerJson[]>(
      { address: back.address, identity: back.identity },
      ['manager', 'ls', '--stale'],
    );
    assert.ok(
      (ownView.find((v) => v.address === back.address)?.appliedIndex ?? 0) >=
        (leaderNow.appliedIndex ?? 0),
      'its own store has applied what the leader had',
    );
    const newLog = (await readLog(back.log)).slice(logBefore);
    assert.match(newLog, /installing snapshot from the leader/);
    passed = true;
  },
);
