// End-to-end on the real Docker engine: rolling updates with start-first order under ingress
// traffic, an automatic rollback, canaries, pause and resume, and a manager killed mid-update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceDetail, TaskView } from '../../shared/api.js';
import {
  cli,
  cliJson,
  cliOk,
  startManager,
  stopProc,
  type ManagerProc,
} from '../helpers/cluster.js';
import { TEST_IMAGE } from '../helpers/docker.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { httpGet } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const execFileP = promisify(execFile);

const NODES = [
  { name: 'ru-a', address: '127.0.0.33' },
  { name: 'ru-b', address: '127.0.0.34' },
  { name: 'ru-c', address: '127.0.0.35' },
] as const;
const PORT = 8095;
const SERVICE = 'ru-web';
const V1 = 'fleet-test/web:v1';
const V2 = 'fleet-test/web:v2';
/** Like the others, but its health check fails: it carries /broken. */
const V3 = 'fleet-test/web:v3';
const HEALTH_CMD = '[ ! -e /broken ]';

/** v1 and v2 are the test image under two names; v3 is it with /broken added. */
async function makeImages(): Promise<void> {
  await execFileP('docker', ['tag', TEST_IMAGE, V1]);
  await execFileP('docker', ['tag', TEST_IMAGE, V2]);
  const name = `ru-build-${process.pid}`;
  await execFileP('docker', ['rm', '-f', name]).catch(() => undefined);
  await execFileP('docker', [
    'run',
    '--name',
    name,
    '--network',
    'none',
    TEST_IMAGE,
    'sh',
    '-c',
    'echo > /broken',
  ]);
  try {
    await execFileP('docker', [
      'commit',
      '--change',
      'CMD ["/bin/httpd","-f","-p","80","-h","/www"]',
      name,
      V3,
    ]);
  } finally {
    await execFileP('docker', ['rm', '-f', name]).catch(() => undefined);
  }
}

type Holder = { m: ManagerProc };

const inspect = (h: Holder): Promise<ServiceDetail> =>
  cliJson<ServiceDetail>(h.m, ['service', 'inspect', SERVICE]);
const tasks = (h: Holder): Promise<TaskView[]> =>
  cliJson<TaskView[]>(h.m, ['service', 'ps', SERVICE]);
const running = (all: TaskView[]): TaskView[] =>
  all.filter((t) => t.desiredState === 'running' && t.state === 'running');

/** The service's update status and tasks, for a failure message. */
async function explain(h: Holder): Promise<string> {
  const [d, ts] = await Promise.all([inspect(h), tasks(h)]);
  const lines = ts.map(
    (x) =>
      `${x.name} v${x.specVersion} ${x.image} ${x.desiredState}/${x.state} ${x.health} ${x.message}`,
  );
  return [`update: ${JSON.stringify(d.updateStatus)}`, ...lines].join('\n');
}

/** Requests through every node, one after another, until stopped; counts what failed. */
function trafficLoop(): { stop(): Promise<{ ok: number; failed: string[] }> } {
  let on = true;
  const out = { ok: 0, failed: [] as string[] };
  const loop = (async () => {
    for (let i = 0; on; i++) {
      const node = NODES[i % NODES.length];
      if (!node) continue;
      const a = await httpGet(node.address, PORT, 3_000);
      if (a.ok) out.ok++;
      else out.failed.push(`${node.address}: ${a.error}`);
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
      return out;
    },
  };
}

/** Samples the service while `during` runs: the highest number of slots seen on `image`. */
async function watchSlots(
  h: Holder,
  image: string,
  during: Promise<unknown>,
  onlyWhile: (d: ServiceDetail) => boolean = () => true,
): Promise<Set<number>> {
  const slots = new Set<number>();
  let done = false;
  void during.finally(() => (done = true));
  while (!done) {
    // Tasks first, the service after: a state that still holds after the listing held during it
    // (read side by side, a slow machine could show a listing newer than the state).
    const ts = await tasks(h).catch(() => []);
    const d = await inspect(h).catch(() => null);
    if (d && onlyWhile(d))
      for (const t of ts) if (t.image === image && t.desiredState === 'running') slots.add(t.slot);
    await sleep(200);
  }
  return slots;
}

test(
  'rolling updates on Docker: start-first under traffic, automatic rollback, canaries, pause, manager restart',
  { timeout: 600_000 },
  async (t) => {
    const cluster = await startDockerCluster(t, NODES, [SERVICE]);
    if (!cluster) return;
    await makeImages();
    const h: Holder = { m: cluster.manager };
    t.after(async () => {
      // A manager restarted by the test is not the one the cluster helper stops.
      if (h.m !== cluster.manager) {
        await cli(h.m, ['service', 'rm', SERVICE], 10_000).catch(() => undefined);
        await stopProc(h.m.proc);
      }
    });

    await t.test(
      '6 replicas go from v1 to v2, 2 at a time, start-first, with no failed request',
      async () => {
        await cliOk(h.m, [
          'service',
          'create',
          '--name',
          SERVICE,
          '--replicas',
          '6',
          '--publish',
          `${PORT}:80`,
          '--health-cmd',
          HEALTH_CMD,
          '--health-interval',
          '500ms',
          '--health-retries',
          '2',
          '--restart-delay',
          '1s',
          '--stop-grace-period',
          '2s',
          '--drain-timeout',
          '5s',
          '--update-parallelism',
          '2',
          '--update-order',
          'start-first',
          '--update-monitor',
          '2s',
          '--update-failure-action',
          'rollback',
          '--rollback-parallelism',
          '2',
          '--rollback-monitor',
          '1s',
          '--timeout',
          '90s',
          V1,
        ]);
        const before = running(await tasks(h));
        assert.equal(before.length, 6);
        const traffic = trafficLoop();
        const started = Date.now();
        const up = await cli(
          h.m,
          ['service', 'update', SERVICE, '--image', V2, '--timeout', '3m'],
          200_000,
        );
        const took = Date.now() - started;
        await sleep(1_000);
        const seen = await traffic.stop();
        assert.equal(up.code, 0, `service update failed: ${up.stderr}`);
        assert.match(up.stdout, /converged|completed/);
        t.diagnostic(
          `v1 -> v2: ${(took / 1000).toFixed(1)} s, ${seen.ok} requests answered, ${seen.failed.length} failed`,
        );
        assert.ok(seen.ok > 50, `requests kept flowing (${seen.ok})`);
        assert.deepEqual(seen.failed, [], 'no request failed during a start-first update');
        const after = running(await tasks(h));
        assert.equal(after.length, 6);
        assert.ok(
          after.every((x) => x.image === V2),
          'every task on v2',
        );
        const d = await inspect(h);
        assert.equal(d.updateStatus?.state, 'completed');
        const ls = await cliOk(h.m, ['service', 'ls']);
        assert.match(ls, /completed/, 'service ls shows the update state');
      },
    );

    await t.test('a v3 whose health check fails is rolled back to v2 by itself', async () => {
      const traffic = trafficLoop();
      const update = cli(
        h.m,
        ['service', 'update', SERVICE, '--image', V3, '--timeout', '3m'],
        200_000,
      );
      const v3Slots = await watchSlots(h, V3, update);
      const r = await update;
      const seen = await traffic.stop();
      assert.notEqual(r.code, 0, 'the CLI fails when the update rolls back');
      assert.match(r.stderr, /rolled back/);
      t.diagnostic(
        `v3 reached slots ${[...v3Slots].join(', ')}; ${seen.ok} requests answered, ${seen.failed.length} failed meanwhile`,
      );
      const d = await waitFor(
        async () => {
          const x = await inspect(h);
          return x.updateStatus?.state === 'rolled back' ? x : null;
        },
        { what: 'the rollback to finish', timeoutMs: 120_000, intervalMs: 500 },
      );
      assert.equal(d.spec.task.image, V2);
      assert.match(
        d.updateStatus?.message ?? '',
        /^rolled back: update failed: task ru-web\.\d failed: health check failed/,
      );
      assert.ok(
        v3Slots.size <= 2,
        `no more than parallelism (2) slots ever on v3: ${[...v3Slots].join(', ')}`,
      );
      // Every v3 task the history keeps ran in one of those slots.
      const history = (await tasks(h)).filter((x) => x.image === V3);
      assert.ok(new Set(history.map((x) => x.slot)).size <= 2);
      await waitFor(
        async () => {
          const live = running(await tasks(h));
          return live.length === 6 && live.every((x) => x.image === V2 && x.health === 'healthy');
        },
        { what: 'all 6 back on v2 and healthy', timeoutMs: 60_000, intervalMs: 500 },
      );
    });

    await t.test('canaries hold until promoted', async () => {
      const r = await cli(
        h.m,
        ['service', 'update', SERVICE, '--image', V1, '--update-canary', '1', '--timeout', '2m'],
        150_000,
      );
      assert.equal(r.code, 0, `${r.stderr}\n${await explain(h)}`);
      assert.match(r.stdout, /promote/);
      const d = await inspect(h);
      assert.equal(d.updateStatus?.state, 'canary');
      await sleep(3_000);
      const live = running(await tasks(h));
      assert.equal(live.filter((x) => x.image === V1).length, 1, 'one canary on v1');
      assert.equal(live.filter((x) => x.image === V2).length, 5, 'the rest held on v2');
      const p = await cli(h.m, ['service', 'promote', SERVICE, '--timeout', '2m'], 150_000);
      assert.equal(p.code, 0, p.stderr);
      await waitFor(
        async () => {
          const x = await inspect(h);
          const l = running(await tasks(h));
          return (
            x.updateStatus?.state === 'completed' &&
            l.length === 6 &&
            l.every((y) => y.image === V1)
          );
        },
        { what: 'the promoted update to complete on v1', timeoutMs: 120_000, intervalMs: 500 },
      );
    });

    await t.test(
      'canaries promote themselves after the monitor period with auto-promote',
      async () => {
        const update = cli(
          h.m,
          [
            'service',
            'update',
            SERVICE,
            '--image',
            V2,
            '--update-canary',
            '2',
            '--update-auto-promote',
            '--update-parallelism',
            '0',
            '--timeout',
            '2m',
          ],
          150_000,
        );
        const canaries = await watchSlots(h, V2, update, (d) => d.updateStatus?.promoted === false);
        const r = await update;
        assert.equal(r.code, 0, r.stderr);
        assert.ok(
          canaries.size <= 2,
          `only the 2 canaries before promotion: ${[...canaries].join(', ')}`,
        );
        const d = await inspect(h);
        assert.equal(d.updateStatus?.state, 'completed');
        assert.ok(running(await tasks(h)).every((x) => x.image === V2));
      },
    );

    await t.test(
      'failure action pause: the update stops on v3, and resumes once the spec is fixed',
      async () => {
        const r = await cli(
          h.m,
          [
            'service',
            'update',
            SERVICE,
            '--image',
            V3,
            '--update-failure-action',
            'pause',
            '--update-parallelism',
            '1',
            '--timeout',
            '2m',
          ],
          150_000,
        );
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /paused/);
        const d = await inspect(h);
        assert.equal(d.updateStatus?.state, 'paused');
        assert.match(d.updateStatus?.message ?? '', /health check failed/);
        const fixed = await cli(
          h.m,
          [
            'service',
            'update',
            SERVICE,
            '--image',
            V1,
            '--update-parallelism',
            '3',
            '--timeout',
            '2m',
          ],
          150_000,
        );
        assert.equal(fixed.code, 0, fixed.stderr);
        const live = running(await tasks(h));
        assert.equal(live.length, 6);
        assert.ok(live.every((x) => x.image === V1));
        assert.equal((await inspect(h)).updateStatus?.state, 'completed');
      },
    );

    await t.test(
      'the manager is killed mid-update; restarted, it finishes the update',
      async () => {
        await cliOk(h.m, [
          'service',
          'update',
          SERVICE,
          '--image',
          V2,
          '--update-parallelism',
          '1',
          '--update-order',
          'stop-first',
          '--detach',
        ]);
        await waitFor(
          async () => running(await tasks(h)).filter((x) => x.image === V2).length >= 2,
          { what: 'two tasks on v2', timeoutMs: 60_000, intervalMs: 250 },
        );
        const midway = running(await tasks(h)).filter((x) => x.image === V2).length;
        h.m.proc.kill('SIGKILL');
        const port = Number(h.m.address.split(':')[1]);
        await sleep(2_000);
        h.m = await startManager({ dataDir: h.m.dataDir, port });
        const d = await waitFor(
          async () => {
            const x = await inspect(h);
            return x.updateStatus?.state === 'completed' ? x : null;
          },
          { what: 'the update to complete after the restart', timeoutMs: 150_000, intervalMs: 500 },
        );
        t.diagnostic(`killed with ${midway} of 6 on v2; completed after the restart`);
        assert.equal(d.spec.task.image, V2);
        const live = running(await tasks(h));
        assert.equal(live.length, 6);
        assert.ok(live.every((x) => x.image === V2));
      },
    );
  },
);
