// End-to-end secrets on the real Docker engine: read at the target path, and found nowhere else.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import {
  cli,
  cliJson,
  cliOk,
  readLog,
  runningTasks,
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
import type { SecretView } from '../../shared/api.js';

const execFileP = promisify(execFile);
const docker = new Docker({ socketPath: DOCKER_SOCKET });
const SERVICE = 'e2e-secrets';
const SECRET = 'e2e-db-pass';
const CONFIG = 'e2e-app-conf';

/** Every file under dir (recursively) that contains any of the needles, with the needle found. */
async function filesContaining(dir: string, needles: string[]): Promise<string[]> {
  const hits: string[] = [];
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath, e.name);
    const data = await fs.readFile(file).catch(() => Buffer.alloc(0));
    for (const n of needles) if (data.includes(n)) hits.push(`${file} (${n})`);
  }
  return hits;
}

/** The filesystem type of the mount that holds `file`, from /proc/mounts. */
async function mountTypeOf(file: string): Promise<string> {
  const lines = (await fs.readFile('/proc/mounts', 'utf8')).split('\n');
  let best = { where: '', type: '' };
  for (const l of lines) {
    const [, where, type] = l.split(' ');
    if (!where || !type) continue;
    const inside = file === where || file.startsWith(where.endsWith('/') ? where : where + '/');
    if (inside && where.length >= best.where.length) best = { where, type };
  }
  return best.type;
}

async function containerOf(service: string): Promise<Docker.ContainerInspectInfo> {
  return waitFor(
    async () => {
      const list = await docker.listContainers({
        filters: { label: [`fleet.service.name=${service}`] },
      });
      const first = list[0];
      return first ? docker.getContainer(first.Id).inspect() : null;
    },
    { what: `a running container of ${service}`, timeoutMs: 30_000, intervalMs: 250 },
  );
}

test(
  'secrets on Docker: a container reads its secret, which is on no disk, log or inspect output',
  { timeout: 180_000 },
  async (t: TestContext) => {
    if (!(await requireDocker(t))) return;
    await ensureTestImage();
    const work = tempDir('secrets-e2e');
    const value = `fleet-secret-${randomBytes(16).toString('hex')}`;
    const needles = [value, Buffer.from(value).toString('base64')];
    const started: { manager?: ManagerProc } = {};
    const agents: AgentProc[] = [];
    const nodeIds: string[] = [];
    t.after(async () => {
      const { manager } = started;
      if (manager) await cli(manager, ['service', 'rm', SERVICE], 10_000).catch(() => undefined);
      for (const a of agents) await stopProc(a.proc);
      if (manager) await stopProc(manager.proc);
      for (const id of nodeIds) await cleanupContainers(id);
      await fs.rm(work, { recursive: true, force: true });
    });

    const m = await startManager();
    started.manager = m;
    for (const [name, address, role] of [
      ['sec-a', '127.0.0.6', 'a'],
      ['sec-b', '127.0.0.7', 'b'],
    ] as const) {
      agents.push(
        startAgent({
          manager: m.address,
          token: m.workerToken,
          name,
          address,
          runtime: 'docker',
          labels: [`role=${role}`],
        }),
      );
    }
    const nodes = await waitForNodes(m, 2);
    for (const n of nodes) nodeIds.push(n.id);
    const [agentA, agentB] = agents;
    assert.ok(agentA && agentB);

    const secretFile = path.join(work, 'secret.txt');
    const configFile = path.join(work, 'app.conf');
    await fs.writeFile(secretFile, value);
    await fs.writeFile(configFile, 'mode=test\n');
    await cliOk(m, ['secret', 'create', SECRET, secretFile]);
    await fs.rm(secretFile);
    await cliOk(m, ['config', 'create', CONFIG, configFile]);
    await cliOk(m, [
      'service',
      'create',
      '--name',
      SERVICE,
      '--detach',
      '--secret',
      SECRET,
      '--config',
      `${CONFIG},target=/etc/app.conf`,
      '--constraint',
      'node.labels.role==a',
      TEST_IMAGE,
      '--',
      'sh',
      '-c',
      `cat /run/secrets/${SECRET} > /dev/null && sleep 600`,
    ]);
    await waitFor(async () => (await runningTasks(m, SERVICE)).length === 1, {
      what: 'the service to run',
      timeoutMs: 60_000,
      intervalMs: 250,
    });

    const info = await containerOf(SERVICE);
    const read = await execFileP('docker', ['exec', info.Id, 'cat', `/run/secrets/${SECRET}`]);
    assert.equal(read.stdout, value, 'the container reads the value at /run/secrets/NAME');
    const conf = await execFileP('docker', ['exec', info.Id, 'cat', '/etc/app.conf']);
    assert.equal(conf.stdout, 'mode=test\n', 'the config is at its target');
    await assert.rejects(
      execFileP('docker', ['exec', info.Id, 'sh', '-c', `echo x > /run/secrets/${SECRET}`]),
      'the secret is mounted read-only',
    );
    const mount = info.Mounts.find((x) => x.Destination === `/run/secrets/${SECRET}`);
    assert.ok(mount, 'the secret is a bind mount');
    assert.equal(mount.RW, false);
    assert.equal(await mountTypeOf(mount.Source), 'tmpfs', `${mount.Source} is memory-backed`);

    // Rotation: a new secret at the same target replaces the old one; then the old one can go.
    const rotated = `${value}-v2`;
    await fs.writeFile(secretFile, rotated);
    await cliOk(m, ['secret', 'create', `${SECRET}-v2`, secretFile]);
    await fs.rm(secretFile);
    await cliOk(m, [
      'service',
      'update',
      SERVICE,
      '--secret-add',
      `${SECRET}-v2,target=/run/secrets/${SECRET}`,
    ]);
    const next = await waitFor(
      async () => {
        const c = await containerOf(SERVICE);
        return c.Id === info.Id ? null : c;
      },
      { what: 'the task to be replaced', timeoutMs: 60_000, intervalMs: 250 },
    );
    const reread = await execFileP('docker', ['exec', next.Id, 'cat', `/run/secrets/${SECRET}`]);
    assert.equal(reread.stdout, rotated, 'the replaced task reads the new value at the same path');
    await waitFor(async () => (await cli(m, ['secret', 'rm', SECRET])).code === 0, {
      what: 'the old secret to be removable once no task needs it',
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    await waitFor(() => !existsSync(mount.Source), {
      what: "the old task's secret file to be deleted",
      timeoutMs: 30_000,
      intervalMs: 250,
    });

    const secretLs = await cliJson<SecretView[]>(m, ['secret', 'ls']);
    assert.deepEqual(
      secretLs.map((s) => [s.name, s.size, s.usedBy]),
      [[`${SECRET}-v2`, rotated.length, [SERVICE]]],
    );
    const outputs = [
      JSON.stringify(secretLs),
      await cliOk(m, ['secret', 'inspect', `${SECRET}-v2`]),
      await cliOk(m, ['secret', 'ls']),
      await cliOk(m, ['service', 'inspect', SERVICE]),
      await cliOk(m, ['service', 'ps', SERVICE]),
    ];
    for (const out of outputs) for (const n of needles) assert.ok(!out.includes(n), out);

    // The search itself finds the value where it is (so the empty results below mean something).
    await fs.writeFile(path.join(work, 'probe'), `x${value}x`);
    assert.equal((await filesContaining(work, needles)).length, 1);
    // The value is nowhere at rest: manager data dir (state.db, -wal, -shm, keys), logs, agent dirs.
    assert.deepEqual(await filesContaining(m.dataDir, needles), [], 'manager data dir');
    for (const a of agents) {
      assert.deepEqual(await filesContaining(a.dataDir, needles), [], `${a.name} data dir`);
    }
    for (const log of [m.log, ...agents.map((a) => a.log)]) {
      const text = await readLog(log);
      assert.ok(text.length > 0, `${log} has lines`);
      for (const n of needles) assert.ok(!text.includes(n), `${log} does not hold the value`);
    }
    // Only the node that runs the task received the secret, and only sealed.
    const assignment = async (a: AgentProc): Promise<{ tasks: { secrets?: unknown[] }[] }> =>
      JSON.parse(await fs.readFile(path.join(a.dataDir, 'assignment.json'), 'utf8')) as {
        tasks: { secrets?: unknown[] }[];
      };
    assert.equal((await assignment(agentA)).tasks[0]?.secrets?.length, 1, 'sec-a got it sealed');
    const onB = await assignment(agentB);
    assert.ok(
      onB.tasks.every((task) => (task.secrets ?? []).length === 0),
      'sec-b never got it',
    );
    assert.ok(!existsSync(`/dev/shm/fleet-${nodes.find((n) => n.name === 'sec-b')?.id ?? ''}`));

    const refused = await cli(m, ['secret', 'rm', `${SECRET}-v2`]);
    assert.notEqual(refused.code, 0, 'secret rm is refused while in use');
    assert.match(refused.stderr, new RegExp(`in use by service ${SERVICE}`));
    await cliOk(m, ['service', 'rm', SERVICE]);
    const nextSource = next.Mounts.find((x) => x.Destination === `/run/secrets/${SECRET}`)?.Source;
    assert.ok(nextSource);
    await waitFor(() => !existsSync(nextSource), {
      what: 'the secret file to be deleted with its task',
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    await cliOk(m, ['secret', 'rm', `${SECRET}-v2`]);
    await cliOk(m, ['config', 'rm', CONFIG]);
    assert.deepEqual(await cliJson<SecretView[]>(m, ['secret', 'ls']), []);
  },
);
