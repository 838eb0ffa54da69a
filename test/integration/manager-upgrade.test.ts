// node upgrade --all over three managers that run tasks: one manager at a time, the leader's board last, the cluster answering throughout; their agents, inside the manager process, refuse the switch.
// test-lane: own-addresses
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';
import {
  cli,
  cliJson,
  cliOk,
  clusterTarget,
  startManager,
  stopProc,
  tempDir,
  type ManagerJson,
  type ManagerProc,
} from '../helpers/cluster.js';
import { bundleRelease } from '../helpers/supervised-boards.js';
import { waitFor } from '../helpers/wait.js';

const NEXT = '0.9.5';
const HOSTS = ['127.0.25.130', '127.0.25.131', '127.0.25.132'];

interface Watch {
  /** manager ls answers seen, and the ones that named no leader or fewer than 3 reachable voters. */
  answers: number;
  unhealthy: string[];
  errors: string[];
  /** The most managers of the rollout seen in flight at once. */
  maxInflight: number;
}

async function newestRollout(
  target: Pick<ManagerProc, 'address' | 'identity'>,
): Promise<RolloutRecord | undefined> {
  const r = await cli(target, ['node', 'upgrade', '--status', '--json']);
  if (r.code !== 0) throw new Error(`node upgrade --status: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout) as RolloutRecord[])[0];
}

/** Polls the cluster until stopped: a leader and three reachable voters at every answer. */
function watchCluster(target: Pick<ManagerProc, 'address' | 'identity'>) {
  const w: Watch = { answers: 0, unhealthy: [], errors: [], maxInflight: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const ms = await cliJson<ManagerJson[]>(target, ['manager', 'ls']);
        w.answers++;
        const voters = ms.filter((m) => m.raft === 'voter' && m.reachable).length;
        if (!ms.some((m) => m.leader) || voters < 3) w.unhealthy.push(JSON.stringify(ms));
        const r = await newestRollout(target);
        const inflight = (r?.nodes ?? []).filter(
          (n) => n.manager && (n.state === 'upgrading' || n.state === 'monitoring'),
        ).length;
        w.maxInflight = Math.max(w.maxInflight, inflight);
      } catch (e) {
        w.errors.push(e instanceof Error ? e.message : String(e));
      }
    }
  })();
  return {
    watch: w,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

test(
  'node upgrade --all takes the managers one at a time, the leader last, and the cluster keeps answering',
  { timeout: 180_000 },
  async (t) => {
    const managers: ManagerProc[] = [];
    const dir = tempDir('manager-upgrade');
    t.after(async () => {
      for (const m of managers.reverse()) await stopProc(m.proc);
      rmSync(dir, { recursive: true, force: true });
    });
    for (const host of HOSTS)
      managers.push(
        await startManager({
          host,
          heartbeat: '500ms',
          worker: true,
          extraArgs: ['--runtime', 'process'],
          ...(managers[0] ? { join: managers[0] } : {}),
        }),
      );
    const target = clusterTarget(managers);
    const ms = await waitFor(
      async () => {
        const list = await cliJson<ManagerJson[]>(target, ['manager', 'ls']);
        return list.filter((m) => m.raft === 'voter' && m.reachable).length === 3 ? list : null;
      },
      { what: '3 voting managers', timeoutMs: 60_000, intervalMs: 250 },
    );
    const leader = ms.find((m) => m.leader);
    assert.ok(leader, 'a leader');
    await cliOk(target, ['agent', 'release', 'push', await bundleRelease(dir, NEXT)]);

    const watching = watchCluster(target);
    t.after(() => watching.stop());
    const up = await cli(
      target,
      ['node', 'upgrade', '--all', '--version', NEXT, '--monitor', '1s'].concat([
        '--failure-action',
        'continue',
        '--detach',
      ]),
    );
    assert.equal(up.code, 0, up.stderr);
    const done = await waitFor(
      async () => {
        const r = await newestRollout(target);
        return r && r.state !== 'updating' ? r : undefined;
      },
      { what: 'the rollout over', timeoutMs: 90_000, intervalMs: 250 },
    );
    await watching.stop();
    const w = watching.watch;
    t.diagnostic(`manager ls answered ${w.answers} times during the rollout`);
    assert.equal(done.state, 'completed', done.message);
    assert.deepEqual(w.errors, [], 'every request answered');
    assert.deepEqual(w.unhealthy, [], 'a leader and 3 voters at every answer');
    assert.ok(w.maxInflight <= 1, 'never two managers at once');
    const order = [...done.nodes]
      .filter((n) => n.manager)
      .sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
    assert.equal(order.length, 3);
    assert.equal(order[2]?.nodeId, leader.id, "the leader's board last");
    for (let i = 1; i < order.length; i++)
      assert.ok(
        (order[i]?.startedAt ?? 0) >= (order[i - 1]?.settledAt ?? Infinity),
        `${order[i]?.name} started after ${order[i - 1]?.name} settled`,
      );
    // The agent beside a manager runs in the manager's process, not under the supervisor.
    for (const n of order) {
      assert.equal(n.state, 'failed', `${n.name}: ${n.reason ?? ''}`);
      assert.match(n.reason ?? '', /does not run under the upgrade supervisor/);
    }
  },
);
