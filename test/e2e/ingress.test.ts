// End-to-end routing mesh on the real Docker engine: any node answers a published port, no kernel modules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { cliOk } from '../helpers/cluster.js';
import { DOCKER_SOCKET, TEST_IMAGE } from '../helpers/docker.js';
import { httpGet as get } from '../helpers/http.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { waitFor } from '../helpers/wait.js';

const NODES = [
  { name: 'ing-a', address: '127.0.0.2', labels: ['web=yes'] },
  { name: 'ing-b', address: '127.0.0.3', labels: ['web=yes'] },
  { name: 'ing-c', address: '127.0.0.4', labels: [] },
] as const;
const PORT = 8080;
const HOST_PORT = 8081;
/** Each task serves its own container id, so a test can tell which task answered. */
const SERVE_ID = ['sh', '-c', 'echo $HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www'];

const docker = new Docker({ socketPath: DOCKER_SOCKET });

async function webContainerIds(): Promise<string[]> {
  const list = await docker.listContainers({ filters: { label: ['fleet.service.name=web'] } });
  return list.map((c) => c.Id);
}

test(
  'routing mesh on Docker: every node answers, a killed task is routed around, host mode and scale to 0',
  { timeout: 240_000 },
  async (t) => {
    const cluster = await startDockerCluster(t, NODES, ['web', 'hosty']);
    if (!cluster) return;
    const { manager: m } = cluster;

    await cliOk(m, [
      'service',
      'create',
      '--name',
      'web',
      '--replicas',
      '2',
      '--max-replicas-per-node',
      '1',
      '--constraint',
      'node.labels.web==yes',
      '--publish',
      `${PORT}:80`,
      TEST_IMAGE,
      '--',
      ...SERVE_ID,
    ]);
    const ids = await waitFor(
      async () => {
        const found = new Set<string>();
        for (const n of NODES) {
          for (let i = 0; i < 6; i++) {
            const a = await get(n.address, PORT);
            if (!a.ok) return null;
            found.add(a.body);
          }
        }
        return found.size === 2 ? found : null;
      },
      {
        what: 'HTTP 200 on port 8080 of all three nodes, from both tasks',
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    const running = (await webContainerIds()).map((id) => id.slice(0, 12));
    assert.deepEqual([...ids].sort(), [...running].sort(), 'the answers come from both tasks');

    await t.test('the node that runs no task answers from both tasks', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const a = await get('127.0.0.4', PORT);
        assert.ok(a.ok, `request ${i} through ing-c failed: ${a.ok ? '' : a.error}`);
        seen.add(a.body);
      }
      assert.equal(seen.size, 2);
    });

    await t.test(
      'a killed container: at most a few requests fail, then all succeed again',
      async () => {
        const victim = (await webContainerIds())[0];
        assert.ok(victim);
        let failures = 0;
        let total = 0;
        let lastFailureAt = 0;
        const started = Date.now();
        const client = (async () => {
          while (Date.now() - started < 15_000) {
            const a = await get('127.0.0.4', PORT, 2_000);
            total++;
            if (!a.ok) {
              failures++;
              lastFailureAt = Date.now() - started;
            }
            await new Promise((r) => setTimeout(r, 20));
          }
        })();
        await new Promise((r) => setTimeout(r, 2_000));
        await docker.getContainer(victim).kill();
        await client;
        t.diagnostic(
          `${failures} of ${total} requests failed; last failure ${lastFailureAt} ms into the run`,
        );
        assert.ok(failures <= 5, `${failures} requests failed`);
        for (let i = 0; i < 10; i++) assert.ok((await get('127.0.0.4', PORT)).ok);
      },
    );

    await t.test('host mode answers only on the node running the task', async () => {
      await cliOk(m, [
        'service',
        'create',
        '--name',
        'hosty',
        '--constraint',
        'node.hostname==ing-a',
        '--publish',
        `published=${HOST_PORT},target=80,mode=host`,
        TEST_IMAGE,
      ]);
      await waitFor(async () => ((await get('127.0.0.2', HOST_PORT)).ok ? true : null), {
        what: 'host-mode port on ing-a',
        timeoutMs: 30_000,
        intervalMs: 250,
      });
      for (const host of ['127.0.0.3', '127.0.0.4']) {
        const a = await get(host, HOST_PORT, 1_000);
        assert.equal(a.ok, false, `${host}:${HOST_PORT} answered`);
      }
    });

    await t.test('scaled to 0, the published port refuses connections on every node', async () => {
      await cliOk(m, ['service', 'update', 'web', '--replicas', '0']);
      await waitFor(
        async () => {
          const all = await Promise.all(NODES.map((n) => get(n.address, PORT, 1_000)));
          return all.every((a) => !a.ok && a.error === 'ECONNREFUSED') ? true : null;
        },
        { what: 'port 8080 refused everywhere', timeoutMs: 15_000, intervalMs: 250 },
      );
    });
  },
);
