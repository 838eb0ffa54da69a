// Real manager and agents (process runtime): global services follow nodes, impossible constraints explain themselves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cli,
  cliJson,
  cliOk,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
  type TaskJson,
} from '../helpers/cluster.js';
import { waitFor } from '../helpers/wait.js';

test(
  'a global service runs one task per eligible node and a node that joins later gets one',
  { timeout: 120_000 },
  async (t) => {
    const m = await startManager();
    const agents: AgentProc[] = [];
    t.after(async () => {
      await cli(m, ['service', 'rm', 'mon', 'nowhere']);
      await Promise.all(agents.map((a) => stopProc(a.proc)));
      await stopProc(m.proc);
    });
    for (const [i, name] of ['g1', 'g2'].entries()) {
      agents.push(
        startAgent({
          manager: m.address,
          token: m.workerToken,
          name,
          address: `127.0.0.${20 + i}`,
          runtime: 'process',
          labels: ['zone=a'],
        }),
      );
    }
    const nodes = await waitForNodes(m, 2);
    await cliOk(m, [
      'service',
      'create',
      '--name',
      'mon',
      '--mode',
      'global',
      '--detach',
      'busybox',
      '--',
      'sleep',
      '600',
    ]);
    const running = async (n: number): Promise<TaskJson[] | null> => {
      const tasks = (await cliJson<TaskJson[]>(m, ['service', 'ps', 'mon'])).filter(
        (x) => x.desiredState === 'running' && x.state === 'running',
      );
      return tasks.length === n ? tasks : null;
    };
    const two = await waitFor(() => running(2), {
      what: 'one global task on each of two nodes',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    assert.deepEqual(two.map((x) => x.node).sort(), nodes.map((n) => n.id).sort());

    agents.push(
      startAgent({
        manager: m.address,
        token: m.workerToken,
        name: 'g3',
        address: '127.0.0.22',
        runtime: 'process',
      }),
    );
    const all = await waitForNodes(m, 3);
    const three = await waitFor(() => running(3), {
      what: 'a global task on the node that joined later',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    assert.deepEqual(three.map((x) => x.node).sort(), all.map((n) => n.id).sort());
    assert.equal(new Set(three.map((x) => x.id)).size, 3);
    assert.ok(
      two.every((old) => three.some((x) => x.id === old.id)),
      'the first two tasks were not replaced',
    );

    const r = await cli(m, [
      'service',
      'create',
      '--name',
      'nowhere',
      '--replicas',
      '2',
      '--detach',
      '--constraint',
      'node.labels.zone==b',
      'busybox',
      '--',
      'sleep',
      '600',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const pending = await waitFor(
      async () => {
        const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', 'nowhere']);
        return tasks.length === 2 && tasks.every((x) => x.state === 'pending' && x.error)
          ? tasks
          : null;
      },
      { what: 'pending tasks with a reason', timeoutMs: 20_000, intervalMs: 250 },
    );
    assert.equal(pending[0]?.error, 'no suitable node: 3 nodes lack label zone=b');
    const table = await cliOk(m, ['service', 'ps', 'nowhere']);
    assert.match(table, /no suitable node: 3 nodes lack label zone=b/);
  },
);
