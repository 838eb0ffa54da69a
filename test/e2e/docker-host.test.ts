// Agents on their own Docker engines (--docker-host and DOCKER_HOST): each task's container lands on its node's engine, none on the main one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliJson, cliOk, freePort, runningTasks, type TaskJson } from '../helpers/cluster.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { TEST_IMAGE, ensureTestImage, requireDocker, taskContainers } from '../helpers/docker.js';
import { listImages, loadImage, startEngines } from '../helpers/engines.js';
import { httpGet } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const SERVICE = 'own-engine';

test('each agent runs its tasks on the engine it was told to use', async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  const [e1, e2] = await startEngines(t, 2, { prefix: 'flhost' });
  assert.ok(e1 && e2);
  for (const e of [e1, e2]) await loadImage(e, TEST_IMAGE);

  // One agent is told by flag, the other by environment, as the docker CLI would be.
  const cluster = await startDockerCluster(
    t,
    [
      { name: 'own-1', address: '127.0.9.1', dockerHost: e1.host },
      { name: 'own-2', address: '127.0.9.2', env: { DOCKER_HOST: e2.host } },
    ],
    [SERVICE],
  );
  assert.ok(cluster, 'requireDocker passed, so the cluster starts');
  const { manager, nodes } = cluster;
  const engineOf = new Map([
    ['own-1', e1],
    ['own-2', e2],
  ]);

  const port = await freePort();
  await cliOk(manager, [
    'service',
    'create',
    '--name',
    SERVICE,
    '--replicas',
    '2',
    '--max-replicas-per-node',
    '1',
    '--publish',
    `${port}:80`,
    TEST_IMAGE,
  ]);
  const tasks = await waitFor(
    async () => {
      const running = await runningTasks(manager, SERVICE);
      return running.length === 2 ? running : null;
    },
    { what: `2 running ${SERVICE} tasks`, timeoutMs: 60_000, intervalMs: 500 },
  );

  const byNode = new Map<string, TaskJson>();
  for (const task of tasks) {
    assert.ok(task.node, `task ${task.name} has a node`);
    byNode.set(task.node, task);
  }
  assert.equal(byNode.size, 2, 'one task per node');

  for (const node of nodes) {
    const engine = engineOf.get(node.name);
    assert.ok(engine, `node ${node.name} is one of ours`);
    const task = tasks.find((x) => x.node === node.id || x.node === node.name);
    assert.ok(task, `a task on ${node.name}`);
    const here = await taskContainers(SERVICE, { socket: engine.socket });
    assert.equal(here.length, 1, `one ${SERVICE} container on ${engine.name}`);
    assert.equal(here[0]?.nodeId, node.id, `the container on ${engine.name} is ${node.name}'s`);
    assert.equal(here[0]?.taskId, task.id);
    assert.ok(here[0]?.running);
  }
  const onMain = await taskContainers(SERVICE, { all: true });
  assert.deepEqual(onMain, [], 'no task container on the main engine');

  // The routing mesh reaches the tasks through each engine's docker-proxy.
  for (const node of nodes) {
    const answer = await waitFor(
      async () => {
        const a = await httpGet(node.address, port);
        return a.ok ? a : null;
      },
      { what: `the service on ${node.address}:${port}`, timeoutMs: 20_000, intervalMs: 250 },
    );
    assert.equal(answer.body, 'fleet-test ok');
  }

  // The engines did not share images: each holds only what was loaded into it.
  for (const e of [e1, e2]) assert.deepEqual(await listImages(e), [TEST_IMAGE]);
  const shown = await cliJson<{ id: string; address: string }[]>(manager, ['node', 'ls']);
  for (const n of nodes) assert.ok(shown.some((s) => s.id === n.id && s.address === n.address));
});
