// End to end on Docker: a command line full of flags reaches the container as its argv, word for word.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import {
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
  taskContainers,
} from '../helpers/docker.js';
import { waitFor } from '../helpers/wait.js';

const MANAGER_HOST = '127.0.0.100';
const AGENT_ADDR = '127.0.0.101';

test('the words after the image reach the container untouched', async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  const procs: { m?: ManagerProc; a?: AgentProc; nodeId?: string } = {};
  t.after(async () => {
    if (procs.m) await cliOk(procs.m, ['service', 'rm', 'argv']).catch(() => undefined);
    if (procs.a) await stopProc(procs.a.proc);
    if (procs.m) await stopProc(procs.m.proc);
    if (procs.nodeId) await cleanupContainers(procs.nodeId);
  });
  const m = await startManager({ host: MANAGER_HOST });
  procs.m = m;
  procs.a = startAgent({
    manager: m.address,
    token: m.workerToken,
    name: 'argv-node',
    address: AGENT_ADDR,
    runtime: 'docker',
  });
  const [node] = await waitForNodes(m, 1, 30_000);
  procs.nodeId = node?.id;
  // Each argument printed in brackets (an empty one shows as []); then it stays up to be read.
  const printArgv = 'for a in "$0" "$@"; do echo "[$a]"; done; echo end; exec sleep 600';
  await cliOk(m, [
    'service',
    'create',
    '--detach',
    '--name',
    'argv',
    TEST_IMAGE,
    'sh',
    '-c',
    printArgv,
    'redis-server',
    '-p',
    '6380',
    '--save',
    '',
    '--replicas',
    '3',
    '-d',
  ]);
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  const text = await waitFor(
    async () => {
      const [c] = await taskContainers('argv');
      if (!c) return null;
      const logs = await docker.getContainer(c.id).logs({ stdout: true, stderr: true });
      // The engine frames each line with an 8-byte header on a container without a TTY.
      const out = logs.toString('latin1').replace(/[\x00-\x08\x7f-\xff]/g, '');
      return out.includes('end') ? out : null;
    },
    { what: 'the argv task to print its arguments', timeoutMs: 60_000, intervalMs: 250 },
  );
  const words = [...text.matchAll(/\[([^\]\n]*)\]/g)].map((w) => w[1]);
  assert.deepEqual(words, ['redis-server', '-p', '6380', '--save', '', '--replicas', '3', '-d']);
  const tasks = await waitFor(
    async () => {
      const r = await cliOk(m, ['service', 'ls', '--format', '{{.Name}} {{.Ports}}|']);
      return r.includes('argv') ? r : null;
    },
    { what: 'service ls to list argv', timeoutMs: 10_000 },
  );
  assert.equal(tasks.trim(), 'argv |', "the program's -p published no port");
});
