// End-to-end service options on Docker: volumes across restarts and updates, bind and tmpfs mounts, a read-only root, a memory limit, devices, hostnames.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  cli,
  cliJson,
  startAgent,
  startManager,
  stopProc,
  tempDir,
  waitForNodes,
  type AgentProc,
  type ManagerProc,
  type NodeJson,
  type TaskJson,
} from '../helpers/cluster.js';
import {
  TEST_IMAGE,
  cleanupContainers,
  ensureTestImage,
  requireDocker,
  taskContainers,
} from '../helpers/docker.js';
import { waitFor } from '../helpers/wait.js';

const execFileP = promisify(execFile);

const MANAGER_HOST = '127.0.0.110';
/** One agent may run device tasks, the other may not. */
const DEV = { name: 'so-dev', address: '127.0.0.111', extraArgs: ['--allow-devices'] };
const PLAIN = { name: 'so-plain', address: '127.0.0.112', extraArgs: [] as string[] };
const V1 = 'fleet-test/so:v1';
const V2 = 'fleet-test/so:v2';
const VOLUME = `so-e2e-data-${process.pid}`;
const SERVICES = ['so-vol', 'so-fs', 'so-oom', 'so-dev', 'so-host'];

async function docker(...args: string[]): Promise<string> {
  return (await execFileP('docker', args)).stdout.trim();
}

async function tasksOf(m: ManagerProc, service: string): Promise<TaskJson[]> {
  return cliJson<TaskJson[]>(m, ['service', 'ps', service]);
}

/** The running container of a service's only live task, once the task runs. */
async function runningContainer(m: ManagerProc, service: string, not?: string) {
  return waitFor(
    async () => {
      const running = (await tasksOf(m, service)).filter(
        (t) => t.desiredState === 'running' && t.state === 'running',
      );
      if (running.length !== 1) return null;
      const [c] = await taskContainers(service);
      return c && c.running && c.id !== not && c.taskId === running[0]?.id ? c : null;
    },
    { what: `a running task of ${service}`, timeoutMs: 60_000, intervalMs: 250 },
  );
}

async function create(m: ManagerProc, args: string[]): Promise<void> {
  const r = await cli(m, ['service', 'create', '--detach', ...args]);
  assert.equal(r.code, 0, `service create ${args.join(' ')}: ${r.stderr}`);
}

test(
  'service options on Docker: volumes, mounts, read-only, memory limit, devices, hostname',
  { timeout: 420_000 },
  async (t: TestContext) => {
    if (!(await requireDocker(t))) return;
    await ensureTestImage();
    await docker('tag', TEST_IMAGE, V1);
    await docker('tag', TEST_IMAGE, V2);
    const procs: { manager?: ManagerProc; agents: AgentProc[]; nodes: NodeJson[] } = {
      agents: [],
      nodes: [],
    };
    t.after(async () => {
      const { manager } = procs;
      if (manager)
        for (const s of SERVICES)
          await cli(manager, ['service', 'rm', s], 10_000).catch(() => undefined);
      for (const a of procs.agents) await stopProc(a.proc);
      if (manager) await stopProc(manager.proc);
      for (const n of procs.nodes) await cleanupContainers(n.id);
      await docker('volume', 'rm', '-f', VOLUME).catch(() => undefined);
    });
    const manager = await startManager({ host: MANAGER_HOST });
    procs.manager = manager;
    for (const n of [DEV, PLAIN])
      procs.agents.push(
        startAgent({
          manager: manager.address,
          token: manager.workerToken,
          runtime: 'docker',
          ...n,
        }),
      );
    procs.nodes = await waitForNodes(manager, 2, 30_000);
    const nodeId = (name: string): string => {
      const n = procs.nodes.find((x) => x.name === name);
      assert.ok(n, `node ${name} joined`);
      return n.id;
    };

    await t.test(
      'a named volume keeps its data across a task restart and an image update',
      async () => {
        const count = [
          'sh',
          '-c',
          'n=$(cat /data/n 2>/dev/null || echo 0); echo $((n+1)) > /data/n; exec sleep 600',
        ];
        await create(manager, [
          '--name',
          'so-vol',
          '--constraint',
          `node.hostname==${PLAIN.name}`,
          '--restart-delay',
          '500ms',
          '--stop-grace-period',
          '1s',
          '--mount',
          `type=volume,source=${VOLUME},target=/data`,
          V1,
          '--',
          ...count,
        ]);
        const first = await runningContainer(manager, 'so-vol');
        assert.equal(first.nodeId, nodeId(PLAIN.name));
        assert.equal(await docker('exec', first.id, 'cat', '/data/n'), '1');
        assert.equal(
          await docker('volume', 'inspect', VOLUME, '--format', '{{index .Labels "fleet.volume"}}'),
          'true',
        );
        // Killed from outside: the restart policy starts a new container on the same volume.
        await docker('kill', first.id);
        const second = await runningContainer(manager, 'so-vol', first.id);
        assert.equal(await docker('exec', second.id, 'cat', '/data/n'), '2');
        const r = await cli(manager, ['service', 'update', '--detach', '--image', V2, 'so-vol']);
        assert.equal(r.code, 0, r.stderr);
        const third = await waitFor(
          async () => {
            const c = await runningContainer(manager, 'so-vol', second.id);
            const image = await docker('inspect', c.id, '--format', '{{.Config.Image}}');
            return image === V2 ? c : null;
          },
          { what: 'the task on the new image', timeoutMs: 60_000, intervalMs: 250 },
        );
        assert.equal(await docker('exec', third.id, 'cat', '/data/n'), '3');
      },
    );

    await t.test(
      'a bind mount and a tmpfs work, and --read-only keeps the root unwritable',
      async () => {
        const dir = tempDir('so-bind');
        await fs.mkdir(dir, { recursive: true });
        const script =
          'echo hi > /scratch/f && cp /scratch/f /host/out && ' +
          '(touch /rootfile 2>/dev/null && echo writable || echo readonly) > /host/root; exec sleep 600';
        await create(manager, [
          '--name',
          'so-fs',
          '--constraint',
          `node.hostname==${PLAIN.name}`,
          '--mount',
          `type=bind,source=${dir},target=/host`,
          '--mount',
          'type=tmpfs,target=/scratch,tmpfs-size=1M',
          '--read-only',
          V1,
          '--',
          'sh',
          '-c',
          script,
        ]);
        const c = await runningContainer(manager, 'so-fs');
        const root = await waitFor(
          () => fs.readFile(path.join(dir, 'root'), 'utf8').catch(() => ''),
          {
            what: 'the task to write through the bind mount',
            timeoutMs: 20_000,
          },
        );
        assert.equal(root.trim(), 'readonly');
        assert.equal((await fs.readFile(path.join(dir, 'out'), 'utf8')).trim(), 'hi');
        const mounts = await docker('exec', c.id, 'cat', '/proc/mounts');
        assert.match(mounts, /^tmpfs \/scratch tmpfs .*size=1024k/m);
        assert.match(mounts, /^\S+ \/ \S+ ro[,\s]/m);
      },
    );

    await t.test(
      '--limit-memory 32M kills a task that allocates 64 MB, and its error says so',
      async () => {
        await create(manager, [
          '--name',
          'so-oom',
          '--limit-memory',
          '32M',
          '--restart-condition',
          'none',
          V1,
          '--',
          'sh',
          '-c',
          'x=$(head -c 67108864 /dev/zero | tr "\\0" a); echo ${#x}; sleep 600',
        ]);
        const failed = await waitFor(
          async () => (await tasksOf(manager, 'so-oom')).find((x) => x.state === 'failed'),
          { what: 'the task to fail', timeoutMs: 60_000, intervalMs: 250 },
        );
        assert.equal(failed.error, 'task exited with code 137: out of memory (limit 32 MiB)');
      },
    );

    await t.test(
      '--device and --cap-add run only on the agent started with --allow-devices',
      async () => {
        await create(manager, [
          '--name',
          'so-dev',
          '--replicas',
          '2',
          '--device',
          '/dev/null:/dev/fake0',
          '--cap-add',
          'NET_ADMIN',
          V1,
          '--',
          'sh',
          '-c',
          'test -c /dev/fake0 && exec sleep 600',
        ]);
        const running = await waitFor(
          async () => {
            const ts = (await tasksOf(manager, 'so-dev')).filter((x) => x.state === 'running');
            return ts.length === 2 ? ts : null;
          },
          { what: 'two running device tasks', timeoutMs: 60_000, intervalMs: 250 },
        );
        for (const task of running) assert.equal(task.node, nodeId(DEV.name));
        const views = await cliJson<{ name: string; allowDevices: boolean }[]>(manager, [
          'node',
          'ls',
        ]);
        const allow = Object.fromEntries(views.map((v) => [v.name, v.allowDevices]));
        assert.deepEqual([allow[DEV.name], allow[PLAIN.name]], [true, false]);
        for (const c of await taskContainers('so-dev')) {
          const caps = await docker('inspect', c.id, '--format', '{{json .HostConfig.CapAdd}}');
          assert.match(caps, /NET_ADMIN/);
        }
        // Pinned to the node without --allow-devices, a task waits and says why.
        const r = await cli(manager, [
          'service',
          'update',
          '--detach',
          '--constraint-add',
          `node.hostname==${PLAIN.name}`,
          'so-dev',
        ]);
        assert.equal(r.code, 0, r.stderr);
        await waitFor(
          async () =>
            (await tasksOf(manager, 'so-dev')).find(
              (x) => x.state === 'pending' && /1 node do not allow devices/.test(x.error ?? ''),
            ),
          {
            what: 'a pending task saying the node does not allow devices',
            timeoutMs: 60_000,
            intervalMs: 250,
          },
        );
      },
    );

    await t.test(
      "--hostname '{{.Service.Name}}-{{.Task.Slot}}' shows inside the container",
      async () => {
        await create(manager, [
          '--name',
          'so-host',
          '--hostname',
          '{{.Service.Name}}-{{.Task.Slot}}',
          V1,
          '--',
          'sleep',
          '600',
        ]);
        const c = await runningContainer(manager, 'so-host');
        assert.equal(await docker('exec', c.id, 'cat', '/proc/sys/kernel/hostname'), 'so-host-1');
      },
    );
    await t.test(
      'service update changes the new options and replaces the task through the updater',
      async () => {
        const before = await runningContainer(manager, 'so-host');
        const r = await cli(manager, [
          'service',
          'update',
          '--detach',
          '--hostname',
          'h-{{.Task.Slot}}',
          '--mount-add',
          'type=tmpfs,target=/x',
          '--limit-memory',
          '64M',
          '--container-label-add',
          'team=edge',
          '--restart-condition',
          'on-failure',
          'so-host',
        ]);
        assert.equal(r.code, 0, r.stderr);
        const after = await runningContainer(manager, 'so-host', before.id);
        assert.equal(await docker('exec', after.id, 'cat', '/proc/sys/kernel/hostname'), 'h-1');
        assert.match(await docker('exec', after.id, 'cat', '/proc/mounts'), /^tmpfs \/x tmpfs /m);
        const inspected = await docker(
          'inspect',
          after.id,
          '--format',
          '{{.HostConfig.Memory}} {{index .Config.Labels "team"}}',
        );
        assert.equal(inspected, `${64 * 1024 * 1024} edge`);
        const detail = await cliJson<{
          specVersion: number;
          spec: { task: { restart: { condition: string } } };
        }>(manager, ['service', 'inspect', 'so-host']);
        assert.equal(detail.spec.task.restart.condition, 'on-failure');
        assert.equal(detail.specVersion, 2);
      },
    );
  },
);
