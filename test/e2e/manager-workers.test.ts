// End-to-end managers that run tasks: three manager boards share a service, keep it through demote and promote, and when the leader's board dies only its tasks move.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import {
  cli,
  cliJson,
  cliOk,
  clusterTarget,
  startManagers,
  stopProc,
  type ManagerJson,
  type ManagerProc,
  type NodeJson,
} from '../helpers/cluster.js';
import {
  DOCKER_SOCKET,
  TEST_IMAGE,
  cleanupContainers,
  ensureTestImage,
  requireDocker,
  taskContainers,
} from '../helpers/docker.js';
import { waitFor } from '../helpers/wait.js';
import type { TaskView } from '../../shared/api.js';

const SERVICE = 'e2e-manager-workers';
const FIRST_HOST = 130;
const docker = new Docker({ socketPath: DOCKER_SOCKET });

/** The managers' nodes once each one's agent has reported its Docker runtime. */
async function workerNodes(target: Pick<ManagerProc, 'address' | 'identity'>, count: number) {
  return waitFor(
    async () => {
      const nodes = await cliJson<(NodeJson & { runtime: string })[]>(target, ['node', 'ls']);
      const ready = nodes.filter(
        (n) => n.manager && n.status === 'ready' && n.runtime === 'docker',
      );
      return ready.length === count && nodes.length === count ? ready : null;
    },
    { what: `${count} manager nodes running tasks`, timeoutMs: 30_000, intervalMs: 250 },
  );
}

async function raftRoleIs(
  target: Pick<ManagerProc, 'address' | 'identity'>,
  id: string,
  role: 'voter' | 'learner',
): Promise<void> {
  await waitFor(
    async () =>
      (await cliJson<ManagerJson[]>(target, ['manager', 'ls'])).some(
        (m) => m.id === id && m.raft === role && m.reachable,
      ),
    { what: `manager ${id} to be a ${role}`, timeoutMs: 30_000, intervalMs: 250 },
  );
}

async function running(target: Pick<ManagerProc, 'address' | 'identity'>): Promise<TaskView[]> {
  const tasks = await cliJson<TaskView[]>(target, ['service', 'ps', SERVICE]);
  return tasks.filter((t) => t.desiredState === 'running' && t.state === 'running');
}

test("managers run tasks; demote keeps them; the leader's board dies: its tasks move, a new leader takes over, nothing else restarts", async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  const managers: ManagerProc[] = [];
  const nodeIds: string[] = [];
  t.after(async () => {
    const alive = managers.filter((m) => m.proc.exitCode === null && m.proc.signalCode === null);
    if (alive.length > 0) await cli(clusterTarget(alive), ['service', 'rm', SERVICE], 10_000);
    for (const m of managers) await stopProc(m.proc);
    for (const id of nodeIds) await cleanupContainers(id);
  });
  managers.push(...(await startManagers(3, { firstHost: FIRST_HOST, worker: true })));
  const target = clusterTarget(managers);
  const nodes = await workerNodes(target, 3);
  nodeIds.push(...nodes.map((n) => n.id));

  await cliOk(target, ['service', 'create', '--name', SERVICE, '--replicas', '6', TEST_IMAGE]);
  const placed = await waitFor(
    async () => {
      const r = await running(target);
      return r.length === 6 ? r : null;
    },
    { what: '6 running tasks', timeoutMs: 60_000, intervalMs: 250 },
  );
  for (const n of nodes)
    assert.equal(
      placed.filter((x) => x.node === n.id).length,
      2,
      `two tasks on ${n.name}: ${JSON.stringify(placed.map((x) => x.nodeName))}`,
    );

  const leader = (await cliJson<ManagerJson[]>(target, ['manager', 'ls'])).find((m) => m.leader);
  assert.ok(leader, 'a leader');
  const leaderProc = managers.find((m) => m.address.startsWith(`${leader.address.split(':')[0]}:`));
  assert.ok(leaderProc, "the leader's process");
  const before = await taskContainers(SERVICE);
  const survivorsBefore = before.filter((c) => c.nodeId !== leader.id).map((c) => c.id);
  assert.equal(survivorsBefore.length, 4);

  // Demoted and promoted back, a manager keeps its tasks: its agent never stops.
  const follower = nodes.find((n) => n.id !== leader.id);
  assert.ok(follower);
  await cliOk(target, ['node', 'demote', follower.name]);
  await raftRoleIs(target, follower.id, 'learner');
  await cliOk(target, ['node', 'promote', follower.name]);
  await raftRoleIs(target, follower.id, 'voter');
  assert.deepEqual(
    (await running(target))
      .filter((x) => x.node === follower.id)
      .map((x) => x.id)
      .sort(),
    placed
      .filter((x) => x.node === follower.id)
      .map((x) => x.id)
      .sort(),
    'the same tasks run on the demoted and promoted manager',
  );

  // The board dies: its manager and agent with one kill -9, its containers with the power.
  leaderProc.proc.kill('SIGKILL');
  await new Promise<void>((resolve) => leaderProc.proc.once('exit', () => resolve()));
  for (const c of before.filter((x) => x.nodeId === leader.id))
    await docker.getContainer(c.id).remove({ force: true });

  const survivors = clusterTarget(managers.filter((m) => m !== leaderProc));
  const newLeader = await waitFor(
    async () =>
      (await cliJson<ManagerJson[]>(survivors, ['manager', 'ls'])).find(
        (m) => m.leader && m.id !== leader.id,
      ),
    { what: 'a new leader among the survivors', timeoutMs: 30_000, intervalMs: 250 },
  );
  assert.notEqual(newLeader.id, leader.id);

  const moved = await waitFor(
    async () => {
      const r = await running(survivors);
      return r.length === 6 && r.every((x) => x.node !== leader.id) ? r : null;
    },
    { what: "the dead leader's tasks running on the other managers", timeoutMs: 90_000 },
  );
  for (const n of nodes.filter((x) => x.id !== leader.id))
    assert.equal(moved.filter((x) => x.node === n.id).length, 3, `three tasks on ${n.name}`);

  const after = await taskContainers(SERVICE);
  for (const id of survivorsBefore)
    assert.ok(
      after.some((c) => c.id === id && c.running && c.restartCount === 0),
      `container ${id.slice(0, 12)} on a surviving board still runs, never restarted`,
    );
  assert.equal(after.filter((c) => c.nodeId === leader.id).length, 0);
});
