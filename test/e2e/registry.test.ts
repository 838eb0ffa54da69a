// End-to-end images that move: a tag pushed anew to a loopback registry is run after `service update --force`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import {
  cliJson,
  cliOk,
  startAgent,
  startManager,
  stopProc,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import {
  DOCKER_SOCKET,
  TEST_IMAGE,
  cleanupContainers,
  ensureTestImage,
  requireDocker,
} from '../helpers/docker.js';
import { REGISTRY_BIN, pushImage, requireTool, startRegistry } from '../helpers/registry.js';
import { waitFor } from '../helpers/wait.js';
import type { ServiceDetail, TaskView } from '../../shared/api.js';

const execFileP = promisify(execFile);
const docker = new Docker({ socketPath: DOCKER_SOCKET });
const REGISTRY_ADDR = '127.0.0.1:5137';
const IMAGE = `${REGISTRY_ADDR}/fleet-e2e/app:latest`;
const SERVICE = 'e2e-registry';

/** Makes an image from the test image whose /version holds `content`, tagged IMAGE; its id. */
async function commitVersion(content: string): Promise<string> {
  const c = await docker.createContainer({
    Image: TEST_IMAGE,
    Cmd: ['sh', '-c', `echo ${content} > /version`],
  });
  try {
    await c.start();
    await c.wait();
    const [repo, tag] = [IMAGE.slice(0, IMAGE.lastIndexOf(':')), 'latest'];
    const r = (await c.commit({ repo, tag })) as { Id: string };
    return r.Id;
  } finally {
    await c.remove({ force: true });
  }
}

/** Pushes IMAGE and resolves with the digest the registry gave it. */
function push(): Promise<string> {
  return pushImage(docker, IMAGE, REGISTRY_ADDR);
}

async function runningTask(m: ManagerProc, specVersion: number): Promise<TaskView | null> {
  const tasks = await cliJson<TaskView[]>(m, ['service', 'ps', SERVICE]);
  return (
    tasks.find(
      (t) => t.desiredState === 'running' && t.state === 'running' && t.specVersion === specVersion,
    ) ?? null
  );
}

async function containerOf(taskId: string): Promise<Docker.ContainerInspectInfo> {
  const list = await docker.listContainers({ filters: { label: [`fleet.task.id=${taskId}`] } });
  const first = list[0];
  if (!first) throw new Error(`no container for task ${taskId}`);
  return docker.getContainer(first.Id).inspect();
}

async function versionFile(containerId: string): Promise<string> {
  const { stdout } = await execFileP('docker', ['exec', containerId, 'cat', '/version']);
  return stdout.trim();
}

test('a tag pushed anew is run after service update --force, and inspect shows its digest', async (t) => {
  if (!requireTool(t, REGISTRY_BIN, 'docker-registry') || !(await requireDocker(t))) return;
  await ensureTestImage();
  const registry = await startRegistry(t, REGISTRY_ADDR);
  const procs: { manager?: ManagerProc; agent?: AgentProc; nodeId?: string } = {};
  t.after(async () => {
    if (procs.manager) await cliOk(procs.manager, ['service', 'rm', SERVICE]).catch(() => '');
    if (procs.agent) await stopProc(procs.agent.proc);
    if (procs.manager) await stopProc(procs.manager.proc);
    if (procs.nodeId) await cleanupContainers(procs.nodeId);
    await docker
      .getImage(IMAGE)
      .remove({ force: true })
      .catch(() => undefined);
  });

  const v1 = await commitVersion('one');
  const d1 = await push();
  const m = await startManager({ host: '127.0.0.130' });
  procs.manager = m;
  procs.agent = startAgent({
    manager: m.address,
    token: m.workerToken,
    name: 'reg-1',
    address: '127.0.0.131',
    runtime: 'docker',
  });
  const [node] = await waitForNodes(m, 1);
  procs.nodeId = node?.id;

  await cliOk(m, ['service', 'create', '--name', SERVICE, IMAGE, '--', 'sleep', '3600']);
  const first = await waitFor(() => runningTask(m, 1), { what: 'the first task running' });
  assert.equal(first.digest, d1, 'the task reports the digest its board resolved');
  const before = await cliJson<ServiceDetail>(m, ['service', 'inspect', SERVICE]);
  assert.equal(before.digest, d1);
  assert.equal(await versionFile((await containerOf(first.id)).Id), 'one');

  // A new image under the same tag; the board's local tag still names the old one, as on a
  // board that pulled it before.
  const v2 = await commitVersion('two');
  const d2 = await push();
  assert.notEqual(d2, d1);
  await docker.getImage(v1).tag({ repo: IMAGE.slice(0, IMAGE.lastIndexOf(':')), tag: 'latest' });

  await cliOk(m, ['service', 'update', '--force', SERVICE]);
  const second = await waitFor(() => runningTask(m, 2), {
    what: 'the task of the forced update running',
    timeoutMs: 60_000,
  });
  const c2 = await containerOf(second.id);
  assert.equal(c2.Image, v2, 'the container runs the new image');
  assert.equal(await versionFile(c2.Id), 'two');
  assert.equal(second.digest, d2);
  const after = await waitFor(
    async () => {
      const d = await cliJson<ServiceDetail>(m, ['service', 'inspect', SERVICE]);
      return d.digest === d2 ? d : null;
    },
    { what: 'service inspect to show the new digest' },
  );
  assert.equal(after.specVersion, 2);

  // Offline: the registry is gone, a new version still runs what the board has, and says so.
  await registry.stop();
  await cliOk(m, ['service', 'update', '--force', SERVICE]);
  const third = await waitFor(() => runningTask(m, 3), {
    what: 'the task of the offline update running',
    timeoutMs: 60_000,
  });
  assert.match(third.message, /pull failed.*running the local image/);
  assert.equal(await versionFile((await containerOf(third.id)).Id), 'two');
});
