// End-to-end on the real Docker engine: health checks decide which tasks get ingress traffic, and a stopped task drains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import Docker from 'dockerode';
import { cliJson, cliOk, type TaskJson } from '../helpers/cluster.js';
import { DOCKER_SOCKET, TEST_IMAGE, taskContainers } from '../helpers/docker.js';
import { httpGet, slowDownload } from '../helpers/http.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { waitFor } from '../helpers/wait.js';

const NODES = [
  { name: 'hd-a', address: '127.0.0.2', labels: ['side=a'] },
  { name: 'hd-b', address: '127.0.0.3', labels: ['side=b'] },
] as const;
const HC_PORT = 8092;
const DL_PORT = 8093;
/** The contrast service's own port: a failed first download test must not block it. */
const NODRAIN_PORT = 8094;
const SERVICES = ['hc', 'dl', 'dl-nodrain'];
/** Each task serves its container id at / and about 79 MB at /big. */
const SERVE_BIG = [
  'sh',
  '-c',
  'echo $HOSTNAME > /www/index.html; i=0; while [ $i -lt 40 ]; do cat /bin/busybox; i=$((i+1)); done > /www/big; exec httpd -f -p 80 -h /www',
];
const SERVE_ID = ['sh', '-c', 'echo $HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www'];
/** Healthy while /tmp/health holds "ok". */
const HEALTH_CMD = '[ "$(cat /tmp/health 2>/dev/null)" = ok ]';

const docker = new Docker({ socketPath: DOCKER_SOCKET });

/** Runs a shell command inside a container and waits for it to finish. */
async function execIn(containerId: string, script: string): Promise<void> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['sh', '-c', script] });
  const stream = await exec.start({ hijack: true, stdin: false });
  stream.resume();
  await new Promise<void>((r) => stream.on('end', () => r()));
}

/** True when a TCP connect to host:port is refused. */
function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

test(
  'ingress on Docker: health checks gate traffic, an unhealthy task is replaced, a stopped task drains',
  { timeout: 300_000 },
  async (t) => {
    const cluster = await startDockerCluster(t, NODES, SERVICES);
    if (!cluster) return;
    const { manager: m } = cluster;

    await t.test(
      'only healthy tasks take traffic; an unhealthy one fails and is replaced',
      async () => {
        await cliOk(m, [
          'service',
          'create',
          '-d',
          '--name',
          'hc',
          '--replicas',
          '2',
          '--max-replicas-per-node',
          '1',
          '--publish',
          `${HC_PORT}:80`,
          '--health-cmd',
          HEALTH_CMD,
          '--health-interval',
          '300ms',
          '--health-retries',
          '2',
          // Failures before the first success do not count: the test makes tasks healthy by hand.
          '--health-start-period',
          '60s',
          '--restart-delay',
          '1s',
          TEST_IMAGE,
          '--',
          ...SERVE_ID,
        ]);
        const containers = await waitFor(
          async () => {
            const list = await taskContainers('hc');
            return list.length === 2 && list.every((c) => c.running) ? list : null;
          },
          { what: 'two hc containers running', timeoutMs: 30_000, intervalMs: 250 },
        );
        await waitFor(
          async () => {
            const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', 'hc']);
            const starting = tasks.filter((x) => x.state === 'running' && x.health === 'starting');
            return starting.length === 2 ? true : null;
          },
          { what: 'both tasks running with health "starting"', timeoutMs: 15_000 },
        );
        for (const n of NODES)
          assert.ok(await refused(n.address, HC_PORT), `${n.address} refuses: no healthy task`);

        const [first, second] = containers;
        assert.ok(first && second);
        await execIn(first.id, 'echo ok > /tmp/health');
        const firstId = first.id.slice(0, 12);
        await waitFor(
          async () => {
            const all = await Promise.all(NODES.map((n) => httpGet(n.address, HC_PORT, 1_000)));
            return all.every((a) => a.ok && a.body === firstId) ? true : null;
          },
          {
            what: 'every node answering from the healthy task',
            timeoutMs: 15_000,
            intervalMs: 200,
          },
        );
        for (let i = 0; i < 10; i++) {
          const a = await httpGet(NODES[i % 2]!.address, HC_PORT);
          assert.ok(a.ok && a.body === firstId, 'the task still starting gets nothing');
        }
        await execIn(second.id, 'echo ok > /tmp/health');
        await waitFor(
          async () => {
            const seen = new Set<string>();
            // Each node prefers its own task: both answer across the two nodes.
            for (let i = 0; i < 8; i++) {
              const a = await httpGet(NODES[i % 2]!.address, HC_PORT, 1_000);
              if (a.ok) seen.add(a.body);
            }
            return seen.size === 2 ? true : null;
          },
          { what: 'answers from both healthy tasks', timeoutMs: 15_000, intervalMs: 200 },
        );

        // The first task turns unhealthy while a client keeps asking through both nodes.
        let failures = 0;
        let total = 0;
        let fromFirstAfter = 0;
        let unhealthyAt = 0;
        const started = Date.now();
        const client = (async () => {
          while (Date.now() - started < 6_000) {
            const a = await httpGet(NODES[total % 2]!.address, HC_PORT, 2_000);
            total++;
            if (!a.ok) failures++;
            else if (a.body === firstId && unhealthyAt > 0 && Date.now() - unhealthyAt > 3_000)
              fromFirstAfter++;
            await new Promise((r) => setTimeout(r, 10));
          }
        })();
        await new Promise((r) => setTimeout(r, 1_000));
        unhealthyAt = Date.now();
        await execIn(first.id, 'echo bad > /tmp/health');
        await client;
        t.diagnostic(`${failures} of ${total} requests failed while a task turned unhealthy`);
        assert.ok(failures <= 2, `${failures} requests failed`);
        assert.equal(fromFirstAfter, 0, 'the unhealthy task stopped getting traffic');
        const failed = await waitFor(
          async () => {
            const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', 'hc']);
            return tasks.find(
              (x) => x.state === 'failed' && /health check failed/.test(x.error ?? ''),
            );
          },
          { what: 'the unhealthy task recorded as failed', timeoutMs: 15_000 },
        );
        assert.equal(failed.health, 'unhealthy');
        await waitFor(
          async () => {
            const tasks = await cliJson<TaskJson[]>(m, ['service', 'ps', 'hc']);
            return tasks.some(
              (x) => x.desiredState === 'running' && x.id !== failed.id && x.slot === failed.slot,
            )
              ? true
              : null;
          },
          { what: 'a replacement task for the failed slot', timeoutMs: 15_000 },
        );
        await cliOk(m, ['service', 'rm', 'hc']);
      },
    );

    /** Starts a slow download through hd-b, scales the service to 0 meanwhile, and reports. */
    async function downloadAcrossStop(
      service: string,
      port: number,
    ): Promise<{
      download: Awaited<ReturnType<typeof slowDownload>>;
      refusedDuring: boolean;
      containerGoneAfterMs: number;
    }> {
      await waitFor(async () => ((await httpGet('127.0.0.3', port, 1_000)).ok ? true : null), {
        what: `${service} answering through hd-b`,
        timeoutMs: 60_000,
        intervalMs: 250,
      });
      const [container] = await taskContainers(service);
      assert.ok(container, `${service} has a container`);
      let stopIssued: Promise<unknown> = Promise.resolve();
      const download = slowDownload('127.0.0.3', port, '/big', 10 * 1024 * 1024, () => {
        stopIssued = new Promise((r) => setTimeout(r, 1_500)).then(() =>
          cliOk(m, ['service', 'update', '-d', service, '--replicas', '0']),
        );
      });
      await new Promise((r) => setTimeout(r, 300));
      await stopIssued;
      // New connections are refused everywhere once the task left the table.
      const refusedDuring = await waitFor(
        async () =>
          (await refused('127.0.0.2', port)) && (await refused('127.0.0.3', port)) ? true : null,
        { what: 'new connections refused while draining', timeoutMs: 5_000, intervalMs: 100 },
      ).catch(() => false);
      const result = await download;
      const endedAt = Date.now();
      await waitFor(
        async () => ((await taskContainers(service, { all: true })).length === 0 ? true : null),
        { what: `${service}'s container removed`, timeoutMs: 30_000, intervalMs: 200 },
      );
      return { download: result, refusedDuring, containerGoneAfterMs: Date.now() - endedAt };
    }

    await t.test('a long download through another node completes across a stop', async () => {
      await cliOk(m, [
        'service',
        'create',
        '-d',
        '--name',
        'dl',
        '--constraint',
        'node.labels.side==a',
        '--publish',
        `${DL_PORT}:80`,
        '--drain-timeout',
        '60s',
        // busybox httpd as PID 1 ignores SIGTERM: the grace period would hold the download too.
        '--stop-grace-period',
        '1s',
        TEST_IMAGE,
        '--',
        ...SERVE_BIG,
      ]);
      const r = await downloadAcrossStop('dl', DL_PORT);
      t.diagnostic(
        `download ${r.download.received} of ${r.download.expected} bytes in ${r.download.ms} ms; ` +
          `container gone ${r.containerGoneAfterMs} ms after it ended`,
      );
      assert.equal(r.download.status, 200);
      assert.ok(r.download.expected > 50_000_000, 'a big enough body');
      assert.equal(r.download.error, null);
      assert.equal(r.download.received, r.download.expected);
      assert.ok(r.download.ms > 3_000, 'the download was still running when the stop came');
      assert.ok(r.refusedDuring, 'no new connections while draining');
      await cliOk(m, ['service', 'rm', 'dl']);
    });

    await t.test('contrast: with --drain-timeout 0s the same download is cut', async () => {
      await cliOk(m, [
        'service',
        'create',
        '-d',
        '--name',
        'dl-nodrain',
        '--constraint',
        'node.labels.side==a',
        '--publish',
        `${NODRAIN_PORT}:80`,
        '--drain-timeout',
        '0s',
        '--stop-grace-period',
        '1s',
        TEST_IMAGE,
        '--',
        ...SERVE_BIG,
      ]);
      const r = await downloadAcrossStop('dl-nodrain', NODRAIN_PORT);
      t.diagnostic(
        `download ${r.download.received} of ${r.download.expected} bytes: ${r.download.error}`,
      );
      assert.notEqual(r.download.error, null);
      assert.ok(r.download.received < r.download.expected);
    });
  },
);
