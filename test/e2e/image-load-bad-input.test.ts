// A board that cannot take a pushed image (its disk is full): clear task errors, nothing loaded, and running tasks untouched.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import type { ServiceDetail, TaskView } from '../../shared/api.js';
import {
  cli,
  cliJson,
  cliOk,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import { cleanupContainers, requireDocker, taskContainers } from '../helpers/docker.js';
import { engineDocker, listImages, startEngines, type Engine } from '../helpers/engines.js';
import { buildLaptopImage } from '../helpers/pushed-image.js';
import { mountTmpfs, unmount } from '../helpers/tmpfs.js';
import { waitFor } from '../helpers/wait.js';

interface Board {
  manager: ManagerProc;
  agent: AgentProc;
  engine: Engine;
  nodeId: string;
}

/**
 * A manager and one Docker agent on its own engine, the agent's data dir (and so its blob store)
 * on a tmpfs of `size`. Everything is torn down after the test, the mount last.
 */
async function startSmallBoard(
  t: TestContext,
  size: string,
  addresses: { manager: string; agent: string },
  services: readonly string[],
): Promise<Board | null> {
  const dataDir = tempDir('agent-small-disk');
  const procs: { manager?: ManagerProc; agent?: AgentProc; nodeId?: string; engine?: Engine } = {};
  let mounted = false;
  // Registered before the engines' own hook, so it runs first: nothing may still use the mount.
  t.after(async () => {
    const { manager, agent, nodeId, engine } = procs;
    if (manager)
      for (const s of services) await cli(manager, ['service', 'rm', s], 10_000).catch(() => null);
    if (agent) await stopProc(agent.proc);
    if (manager) await stopProc(manager.proc);
    if (nodeId && engine) await cleanupContainers(nodeId, engine.host).catch(() => undefined);
    if (mounted) await unmount(dataDir);
    await fs.rm(dataDir, { recursive: true, force: true });
    await fs.rm(`${dataDir}.log`, { force: true });
  });
  mounted = await mountTmpfs(t, dataDir, size);
  if (!mounted) return null;
  const [engine] = await startEngines(t, 1, { prefix: 'flbad' });
  assert.ok(engine);
  procs.engine = engine;
  const manager = await startManager({ host: addresses.manager });
  procs.manager = manager;
  const agent = startAgent({
    manager: manager.address,
    token: manager.workerToken,
    name: 'small-disk',
    address: addresses.agent,
    runtime: 'docker',
    dataDir,
    dockerHost: engine.host,
  });
  procs.agent = agent;
  const [node] = await waitForNodes(manager, 1, 30_000);
  assert.ok(node);
  procs.nodeId = node.id;
  return { manager, agent, engine, nodeId: node.id };
}

const tasksOf = (m: ManagerProc, service: string): Promise<TaskView[]> =>
  cliJson<TaskView[]>(m, ['service', 'ps', service]);

const inspect = (m: ManagerProc, service: string): Promise<ServiceDetail> =>
  cliJson<ServiceDetail>(m, ['service', 'inspect', service]);

/** The one running task of a service, once it runs. */
const runningTask = (m: ManagerProc, service: string): Promise<TaskView> =>
  waitFor(
    async () =>
      (await tasksOf(m, service)).find(
        (t) => t.desiredState === 'running' && t.state === 'running',
      ) ?? null,
    { what: `a running task of ${service}`, timeoutMs: 90_000, intervalMs: 500 },
  );

/** A failed (or rejected) task of the service on the given image, with its error. */
const failedTask = (m: ManagerProc, service: string, image: string): Promise<TaskView> =>
  waitFor(
    async () =>
      (await tasksOf(m, service)).find(
        (t) => t.image === image && (t.state === 'failed' || t.state === 'rejected') && t.error,
      ) ?? null,
    { what: `a failed task of ${service} on ${image}`, timeoutMs: 90_000, intervalMs: 500 },
  );

/** The service's update status and tasks, for a failure message. */
async function explain(m: ManagerProc, service: string): Promise<string> {
  const d = await inspect(m, service);
  const lines = (await tasksOf(m, service)).map(
    (x) => `${x.name} ${x.image} ${x.desiredState}/${x.state} ${x.message} ${x.error ?? ''}`,
  );
  return [`update: ${JSON.stringify(d.updateStatus)}`, ...lines].join('\n');
}

const DISK_FULL = /this node's disk is full: disk full while storing sha256:[0-9a-f]{64}/;

test('an agent whose disk cannot hold an image fails the task clearly, loads nothing, and keeps its other tasks running', async (t) => {
  if (!(await requireDocker(t))) return;
  const small = await buildLaptopImage(t, { bigMiB: 1, repo: 'fleet-test/small' });
  const big = await buildLaptopImage(t, { bigMiB: 24, repo: 'fleet-test/big' });
  const board = await startSmallBoard(t, '10m', { manager: '127.0.41.1', agent: '127.0.41.2' }, [
    'steady',
    'big',
  ]);
  if (!board) return;
  const { manager, engine } = board;
  await cliOk(manager, ['image', 'push', small.name, big.name]);

  await cliOk(manager, ['service', 'create', '--name', 'steady', '--detach', small.name]);
  const steady = await runningTask(manager, 'steady');
  const [steadyContainer] = await taskContainers('steady', { socket: engine.socket });
  assert.ok(steadyContainer);

  await cliOk(manager, ['service', 'create', '--name', 'big', '--detach', big.name]);
  const failed = await failedTask(manager, 'big', big.name);
  t.diagnostic(`task error: ${failed.error}`);
  assert.match(failed.error ?? '', DISK_FULL, `the task says the disk is full: ${failed.error}`);
  assert.match(failed.error ?? '', new RegExp(big.name.replace(/[.:/]/g, '\\$&')));

  assert.ok(!(await listImages(engine)).includes(big.name), `${big.name} is not tagged`);
  await assert.rejects(
    engineDocker(engine).getImage(big.id).inspect(),
    (e: { statusCode?: number }) => e.statusCode === 404,
    'no image of the big config is in the engine',
  );
  const stillSteady = await runningTask(manager, 'steady');
  assert.equal(stillSteady.id, steady.id, 'the steady task was not replaced');
  const [container] = await taskContainers('steady', { socket: engine.socket });
  assert.equal(container?.id, steadyContainer.id, 'its container is the same and running');
  assert.equal(container?.running, true);
  assert.equal(board.agent.proc.exitCode, null, 'the agent is still up');
});

test('an update to an image the board cannot hold pauses with the reason, and a start-first update keeps the old task', async (t) => {
  if (!(await requireDocker(t))) return;
  const v1 = await buildLaptopImage(t, { bigMiB: 1, repo: 'fleet-test/v1' });
  const v2 = await buildLaptopImage(t, { bigMiB: 24, repo: 'fleet-test/v2' });
  const board = await startSmallBoard(t, '10m', { manager: '127.0.41.3', agent: '127.0.41.4' }, [
    'stopfirst',
    'startfirst',
  ]);
  if (!board) return;
  const { manager, engine } = board;
  await cliOk(manager, ['image', 'push', v1.name, v2.name]);
  await cliOk(manager, ['service', 'create', '--name', 'stopfirst', '--detach', v1.name]);
  await cliOk(manager, [
    'service',
    'create',
    '--name',
    'startfirst',
    '--update-order',
    'start-first',
    '--detach',
    v1.name,
  ]);
  const before = {
    stopfirst: await runningTask(manager, 'stopfirst'),
    startfirst: await runningTask(manager, 'startfirst'),
  };

  for (const s of ['stopfirst', 'startfirst'])
    await cliOk(manager, ['service', 'update', s, '--image', v2.name, '--detach']);
  for (const s of ['stopfirst', 'startfirst']) {
    const paused = await waitFor(
      async () => {
        const d = await inspect(manager, s);
        return d.updateStatus?.state === 'paused' ? d : null;
      },
      { what: `the update of ${s} to pause`, timeoutMs: 90_000, intervalMs: 500 },
    ).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\n${await explain(manager, s)}`);
    });
    t.diagnostic(`${s}: ${paused.updateStatus?.message}`);
    assert.match(
      paused.updateStatus?.message ?? '',
      /update paused: task \w+\.1 (failed|was rejected): image fleet-test\/v2:\w+ is not available: /,
    );
    assert.match(paused.updateStatus?.message ?? '', DISK_FULL);
  }
  for (const [s, list] of [
    ['stopfirst', await tasksOf(manager, 'stopfirst')],
    ['startfirst', await tasksOf(manager, 'startfirst')],
  ] as const)
    for (const x of list)
      t.diagnostic(`${s}: ${x.name} ${x.image} ${x.desiredState}/${x.state} ${x.error ?? ''}`);
  assert.ok(!(await listImages(engine)).includes(v2.name), `${v2.name} is not tagged`);
  await assert.rejects(
    engineDocker(engine).getImage(v2.id).inspect(),
    (e: { statusCode?: number }) => e.statusCode === 404,
    'no image of the v2 config is in the engine',
  );

  // start-first: the old task is stopped only once its replacement runs, so it keeps serving.
  const kept = await runningTask(manager, 'startfirst');
  assert.equal(kept.id, before.startfirst.id, 'the v1 task of the start-first service still runs');
  assert.equal(kept.image, v1.name);
  const [keptContainer] = await taskContainers('startfirst', { socket: engine.socket });
  assert.equal(keptContainer?.taskId, before.startfirst.id);
  assert.equal(keptContainer?.running, true);

  // stop-first (the default, as in Swarm): the v1 task was stopped before v2 could fail; the
  // update is paused with the reason rather than completed, and a rollback brings v1 back.
  const stopped = (await tasksOf(manager, 'stopfirst')).find((x) => x.id === before.stopfirst.id);
  assert.equal(stopped?.desiredState, 'shutdown', 'stop-first stopped the v1 task');
  await cliOk(manager, ['service', 'rollback', 'stopfirst', '--detach']);
  const back = await runningTask(manager, 'stopfirst');
  assert.equal(back.image, v1.name, 'the rollback runs v1 again');
  const rolled = await waitFor(
    async () => {
      const d = await inspect(manager, 'stopfirst');
      return d.updateStatus?.state === 'rolled back' ? d : null;
    },
    { what: 'the rollback of stopfirst to finish', timeoutMs: 60_000, intervalMs: 500 },
  );
  assert.equal(rolled.spec.task.image, v1.name);
});
