// End-to-end images that move: a tag pushed anew to a loopback registry is run after `service update --force`.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import {
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
import {
  DOCKER_SOCKET,
  TEST_IMAGE,
  cleanupContainers,
  ensureTestImage,
  requireDocker,
} from '../helpers/docker.js';
import { waitFor } from '../helpers/wait.js';
import type { ServiceDetail, TaskView } from '../../shared/api.js';

const execFileP = promisify(execFile);
const docker = new Docker({ socketPath: DOCKER_SOCKET });
const REGISTRY_BIN = '/usr/bin/docker-registry';
const REGISTRY_ADDR = '127.0.0.1:5137';
const IMAGE = `${REGISTRY_ADDR}/fleet-e2e/app:latest`;
const SERVICE = 'e2e-registry';

/** The registry binary, or a clear failure in CI and a skip elsewhere when it is missing. */
function requireRegistry(t: TestContext): boolean {
  if (existsSync(REGISTRY_BIN)) return true;
  const why = `${REGISTRY_BIN} not found: install Debian's docker-registry package (apt-get install -y docker-registry)`;
  if (process.env.CI) throw new Error(why);
  t.skip(why);
  return false;
}

/** Runs a registry on loopback with its storage in a temporary directory, until the test ends. */
async function startRegistry(
  t: TestContext,
): Promise<{ proc: ChildProcess; stop(): Promise<void> }> {
  const dir = tempDir('registry');
  const config = path.join(dir, 'config.yml');
  await fs.writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${REGISTRY_ADDR}`,
      '',
    ].join('\n'),
  );
  const out = await fs.open(path.join(dir, 'registry.log'), 'a');
  const proc = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', out.fd, out.fd] });
  const stop = async (): Promise<void> => {
    await stopProc(proc);
    await out.close().catch(() => undefined);
  };
  t.after(stop);
  await waitFor(() => getStatus(`http://${REGISTRY_ADDR}/v2/`).then((s) => s === 200), {
    what: 'the registry to answer /v2/',
    timeoutMs: 15_000,
    intervalMs: 100,
  });
  return { proc, stop };
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

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
async function push(): Promise<string> {
  const stream = await docker.getImage(IMAGE).push({
    authconfig: { username: '', password: '', serveraddress: REGISTRY_ADDR },
  });
  const events = await new Promise<unknown[]>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, res: unknown[]) =>
      err ? reject(err) : resolve(res),
    ),
  );
  for (const e of events) {
    const ev = e as { error?: string; aux?: { Digest?: string } };
    if (ev.error) throw new Error(`push failed: ${ev.error}`);
    if (ev.aux?.Digest) return ev.aux.Digest;
  }
  throw new Error('the push reported no digest');
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
  if (!requireRegistry(t) || !(await requireDocker(t))) return;
  await ensureTestImage();
  const registry = await startRegistry(t);
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
