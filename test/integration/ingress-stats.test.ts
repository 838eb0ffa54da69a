// Real manager and agents (process runtime): traffic through the routing mesh shows up, per node and task, in service inspect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PortNodeStats, ServiceDetail } from '../../shared/api.js';
import {
  cli,
  cliJson,
  cliOk,
  freePort,
  readLog,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
  type TaskJson,
} from '../helpers/cluster.js';
import { get } from '../helpers/ingress.js';
import { waitFor } from '../helpers/wait.js';

const SERVICE = 'obsweb';

/**
 * The task: an HTTP server on the port fleet gives it, answering with its task id; GET /close
 * makes it stop listening while the process lives on, so its node's forwarders are refused.
 * Agents leave their tasks running when they stop: this one exits once its agent is gone.
 */
const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  res.setHeader('x-backend', process.env.FLEET_TASK_ID || '');
  res.setHeader('connection', 'close');
  if (req.url === '/close') {
    res.end('closing');
    server.close();
    return;
  }
  res.end('ok');
});
server.listen(Number(process.env.PORT), process.env.FLEET_HOST_IP);
// Lives on without its listener, until its agent is gone (the test is over).
const agent = process.ppid;
setInterval(() => process.ppid !== agent && process.exit(0), 200);
`;

type TaskWithPorts = TaskJson & { hostPorts: { hostIp: string; hostPort: number }[] };

test(
  'ingress traffic, refused backends and failed forwardings are counted per node and task in service inspect',
  { timeout: 180_000 },
  async (t) => {
    const m = await startManager();
    const agents: AgentProc[] = [];
    t.after(async () => {
      await cli(m, ['service', 'rm', SERVICE]);
      await Promise.all(agents.map((a) => stopProc(a.proc)));
      await stopProc(m.proc);
    });
    for (const [i, name] of ['obs-a', 'obs-b', 'obs-c'].entries()) {
      agents.push(
        startAgent({
          manager: m.address,
          token: m.workerToken,
          name,
          address: `127.0.0.${25 + i}`,
          runtime: 'process',
        }),
      );
    }
    const [agentA, agentB, agentC] = agents as [AgentProc, AgentProc, AgentProc];
    const nodes = await waitForNodes(m, 3);
    const nodeOf = (name: string): string => nodes.find((n) => n.name === name)?.id ?? '';
    const published = await freePort();
    // Two tasks on two of the three nodes; obs-a runs one, obs-c none (it only forwards).
    await cliOk(m, [
      'service',
      'create',
      '--name',
      SERVICE,
      '--replicas',
      '2',
      '--max-replicas-per-node',
      '1',
      '--constraint',
      'node.hostname!=obs-c',
      '--publish',
      `${published}:8080`,
      '--detach',
      'busybox',
      '--',
      process.execPath,
      '-e',
      SERVER,
    ]);
    const tasks = await waitFor(
      async () => {
        const ts = (await cliJson<TaskWithPorts[]>(m, ['service', 'ps', SERVICE])).filter(
          (x) => x.desiredState === 'running' && x.state === 'running',
        );
        return ts.length === 2 ? ts : null;
      },
      { what: 'two running tasks', timeoutMs: 30_000, intervalMs: 250 },
    );
    const taskOn = (name: string): TaskWithPorts => {
      const task = tasks.find((x) => x.node === nodeOf(name));
      assert.ok(task, `a task on ${name}`);
      return task;
    };
    const [taskA, taskB] = [taskOn('obs-a'), taskOn('obs-b')];
    // The tasks answer directly first, so no request through the mesh meets one still starting.
    for (const task of [taskA, taskB]) {
      const hp = task.hostPorts[0];
      assert.ok(hp, 'the task has a host port');
      await waitFor(async () => (await get(hp.hostPort, '/', hp.hostIp)).status === 200, {
        what: `${task.name} to listen`,
        timeoutMs: 20_000,
        intervalMs: 100,
      });
    }
    // A refused connect to a port not yet listened on is no connection: it is not counted.
    for (const a of agents)
      await waitFor(async () => (await get(published, '/', a.address)).status === 200, {
        what: `${a.name}'s ingress port to answer`,
        timeoutMs: 20_000,
        intervalMs: 100,
      });

    // Each node's forwarder prefers its own task; obs-c spreads over both.
    for (let i = 0; i < 9; i++) {
      const r = await get(published, '/', agentA.address);
      assert.deepEqual([r.status, r.backend], [200, taskA.id]);
    }
    for (let i = 0; i < 4; i++) {
      const r = await get(published, '/', agentB.address);
      assert.deepEqual([r.status, r.backend], [200, taskB.id]);
    }
    for (let i = 0; i < 5; i++)
      assert.equal((await get(published, '/', agentC.address)).status, 200);

    const inspect = (): Promise<ServiceDetail> =>
      cliJson<ServiceDetail>(m, ['service', 'inspect', SERVICE]);
    const nodeStats = (d: ServiceDetail, name: string): PortNodeStats | undefined =>
      d.ingress[0]?.stats?.nodes.find((n) => n.nodeId === nodeOf(name));
    const totals = (d: ServiceDetail): (number | undefined)[] =>
      ['obs-a', 'obs-b', 'obs-c'].map((n) => nodeStats(d, n)?.total);
    // Reports go out every 5 s: the counts arrive well within 20 s.
    const counted = await waitFor(
      async () => {
        const d = await inspect();
        const settled = d.ingress[0]?.stats?.active === 0;
        return settled && JSON.stringify(totals(d)) === '[10,5,6]' ? d : null;
      },
      { what: 'the connection counts in service inspect', timeoutMs: 20_000, intervalMs: 500 },
    );
    const port = counted.ingress[0];
    assert.equal(port?.published, published);
    assert.equal(port?.protocol, 'tcp');
    assert.deepEqual(port?.backends.map((b) => b.taskId).sort(), [taskA.id, taskB.id].sort());
    assert.deepEqual(
      [port?.stats?.active, port?.stats?.total, port?.stats?.errors, port?.stats?.connectErrors],
      [0, 21, 0, 0],
    );
    const a = nodeStats(counted, 'obs-a');
    assert.equal(a?.nodeName, 'obs-a');
    // Every backend of the port is listed on every node, its own task taking the traffic.
    const counts = (x: PortNodeStats | undefined): Record<string, number[]> =>
      Object.fromEntries(
        (x?.tasks ?? []).map((k): [string, number[]] => [
          String(k.taskName),
          [k.active, k.total, k.errors],
        ]),
      );
    assert.deepEqual(counts(a), { [taskA.name]: [0, 10, 0], [taskB.name]: [0, 0, 0] });
    assert.ok((a?.bytesIn ?? 0) > 0 && (a?.bytesOut ?? 0) > 0, 'bytes are counted');
    const c = nodeStats(counted, 'obs-c');
    assert.deepEqual(c?.tasks.map((x) => x.taskId).sort(), [taskA.id, taskB.id].sort());
    assert.equal(
      c?.tasks.reduce((n, x) => n + x.total, 0),
      6,
    );

    const pretty = await cliOk(m, ['service', 'inspect', SERVICE, '--pretty']);
    assert.match(pretty, new RegExp(`Ingress ${published}/tcp -> 8080`));
    assert.match(pretty, /Traffic: +0 active, 21 total, 0 errors, 0 failed backend connects/);
    assert.match(pretty, /obs-a +\(all\) +0 +10 +0 +0 /);
    assert.match(pretty, new RegExp(`${taskA.name.replace('.', '\\.')} +0 +10 +0`));

    // obs-a's task stops listening. obs-c fails over to obs-b's task: its clients see nothing.
    assert.equal((await get(published, '/close', agentA.address)).status, 200);
    for (let i = 0; i < 4; i++) {
      const r = await get(published, '/', agentC.address);
      assert.deepEqual([r.status, r.backend], [200, taskB.id]);
    }
    const failedOver = await waitFor(
      async () => {
        const d = await inspect();
        const sc = nodeStats(d, 'obs-c');
        // Each node reports on its own timer: wait for both.
        const ok = sc?.total === 10 && sc.connectErrors >= 1 && nodeStats(d, 'obs-a')?.total === 11;
        return ok ? d : null;
      },
      { what: 'refused connects counted in service inspect', timeoutMs: 20_000, intervalMs: 500 },
    );
    const sc = nodeStats(failedOver, 'obs-c');
    assert.equal(sc?.errors, 0, 'a connect that failed over is no failed forwarding');
    assert.ok((counts(sc)[taskA.name]?.[2] ?? 0) >= 1, 'the refusing task has errors on obs-c');
    assert.equal(nodeStats(failedOver, 'obs-a')?.total, 11);

    // Once obs-b's task stops listening too, obs-c can only reset its clients.
    assert.equal((await get(published, '/close', agentB.address)).status, 200);
    for (let i = 0; i < 2; i++) await assert.rejects(get(published, '/', agentC.address));
    const failed = await waitFor(
      async () => {
        const d = await inspect();
        const c2 = nodeStats(d, 'obs-c');
        return c2?.total === 12 && c2.errors === 2 && d.ingress[0]?.stats?.total === 29 ? d : null;
      },
      { what: 'failed forwardings counted in service inspect', timeoutMs: 20_000, intervalMs: 500 },
    );
    const c2 = nodeStats(failed, 'obs-c');
    assert.ok((c2?.connectErrors ?? 0) >= (sc?.connectErrors ?? 0) + 2);
    assert.equal(failed.ingress[0]?.stats?.errors, 2);
    assert.deepEqual(totals(failed), [11, 6, 12]);
    // The agent logs the failures, once for the burst.
    const log = await readLog(agentC.log);
    assert.equal(log.match(/every backend failed; client reset/g)?.length, 1, log);
  },
);
