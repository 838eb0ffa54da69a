// Pre-flight on the real Docker engine: a node short of disk or memory rejects the task with a clear
// reason, the reason shows in `service ps`, and the scheduler places elsewhere when it can.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { cliJson, cliOk, type TaskJson } from '../helpers/cluster.js';
import { DOCKER_SOCKET, TEST_IMAGE } from '../helpers/docker.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { waitFor } from '../helpers/wait.js';

/** The starved node keeps more free than any real disk has: honestly "too little free disk". */
const NODES = [
  { name: 'pf-starved', address: '127.0.0.51', extraArgs: ['--min-free-disk', '100000G'] },
  { name: 'pf-ok', address: '127.0.0.52', extraArgs: [] },
] as const;
const SERVICES = ['pfpin', 'pfany', 'pfmem'];
const SLEEP = ['sleep', '3600'];

test(
  'pre-flight on Docker: too little disk or memory rejects with the reason; others run elsewhere',
  { timeout: 180_000 },
  async (t) => {
    const cluster = await startDockerCluster(t, NODES, SERVICES);
    if (!cluster) return;
    const { manager: m, nodes } = cluster;
    const idOf = (name: string): string => {
      const n = nodes.find((x) => x.name === name);
      assert.ok(n, `node ${name} joined`);
      return n.id;
    };
    const starved = idOf('pf-starved');
    const healthy = idOf('pf-ok');
    const root = String(
      ((await new Docker({ socketPath: DOCKER_SOCKET }).info()) as { DockerRootDir?: string })
        .DockerRootDir,
    );

    await t.test(
      'a task pinned to the node short of disk is rejected with the reason',
      async () => {
        await cliOk(m, [
          'service',
          'create',
          '--detach',
          '--name',
          'pfpin',
          '--constraint',
          'node.hostname==pf-starved',
          '--restart-delay',
          '1s',
          TEST_IMAGE,
          '--',
          ...SLEEP,
        ]);
        const diskReason = new RegExp(
          `^not enough disk: .+ free on ${root} and the node keeps 97\\.7 TiB free$`,
        );
        const rejected = await waitFor(
          async () => {
            const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', 'pfpin']);
            return tasks.find((x) => x.state === 'rejected' && x.node === starved) ?? null;
          },
          { what: 'a rejected pfpin task', timeoutMs: 30_000, intervalMs: 250 },
        );
        assert.match(rejected.error ?? '', diskReason);
        const table = await cliOk(m, ['service', 'ps', 'pfpin']);
        assert.match(
          table,
          /Rejected .*not enough disk: .+ free on .+ and the node keeps 97\.7 TiB free/,
        );
        const containers = await new Docker({ socketPath: DOCKER_SOCKET }).listContainers({
          all: true,
          filters: { label: ['fleet.service.name=pfpin'] },
        });
        assert.equal(containers.length, 0, 'nothing was created on the starved node');
      },
    );

    await t.test('a service allowed on both nodes ends up running on the healthy one', async () => {
      // Two replicas spread one per node; the starved node's one is rejected and replaced.
      await cliOk(m, [
        'service',
        'create',
        '--name',
        'pfany',
        '--replicas',
        '2',
        '--restart-delay',
        '1s',
        TEST_IMAGE,
        '--',
        ...SLEEP,
      ]);
      const tasks = await waitFor(
        async () => {
          const all = await cliJson<TaskJson[]>(m, ['service', 'ps', 'pfany']);
          const running = all.filter((x) => x.desiredState === 'running' && x.state === 'running');
          return running.length === 2 ? all : null;
        },
        { what: 'two running pfany tasks', timeoutMs: 60_000, intervalMs: 250 },
      );
      const running = tasks.filter((x) => x.desiredState === 'running');
      assert.ok(
        running.every((x) => x.node === healthy),
        'both run on pf-ok',
      );
      const refused = tasks.filter((y) => y.node === starved);
      assert.ok(refused.length > 0, 'one replica was first placed on the starved node');
      for (const x of refused) {
        assert.equal(x.state, 'rejected');
        assert.match(x.error ?? '', /^not enough disk: /);
      }
    });

    await t.test(
      'a reservation above the memory available now is rejected by the agent',
      async () => {
        // Just under the node's total, so the scheduler's reservation check lets it through; the
        // memory available now is always less (the kernel, dockerd and these very processes).
        const total = Number(
          ((await new Docker({ socketPath: DOCKER_SOCKET }).info()) as { MemTotal?: number })
            .MemTotal,
        );
        assert.ok(total > 0);
        const reserve = total - 1024 * 1024;
        await cliOk(m, [
          'service',
          'create',
          '--detach',
          '--name',
          'pfmem',
          '--constraint',
          'node.hostname==pf-ok',
          '--reserve-memory',
          String(reserve),
          '--restart-delay',
          '1s',
          TEST_IMAGE,
          '--',
          ...SLEEP,
        ]);
        const rejected = await waitFor(
          async () => {
            const all = await cliJson<TaskJson[]>(m, ['service', 'ps', 'pfmem']);
            return all.find((x) => x.state === 'rejected') ?? null;
          },
          { what: 'a rejected pfmem task', timeoutMs: 30_000, intervalMs: 250 },
        );
        assert.equal(rejected.node, healthy);
        assert.match(
          rejected.error ?? '',
          /^not enough memory: the task reserves [\d.]+ GiB, [\d.]+ [GM]iB is available on this node$/,
        );
      },
    );
  },
);
