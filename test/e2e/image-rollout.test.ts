// A rolling update to an image the fleet stores: no old task stops before its node has the new image; timed with and without prefetch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageDetail, TaskView } from '../../shared/api.js';
import { cli, cliJson, cliOk, runningTasks, type ManagerProc } from '../helpers/cluster.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { requireDocker } from '../helpers/docker.js';
import { startEngines } from '../helpers/engines.js';
import { buildLaptopImage } from '../helpers/pushed-image.js';
import { waitFor } from '../helpers/wait.js';

const SERVICE = 'rollout-web';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function loadedOn(m: ManagerProc, image: string): Promise<Set<string>> {
  const [d] = JSON.parse(await cliOk(m, ['image', 'inspect', image])) as ImageDetail[];
  return new Set((d?.nodes ?? []).filter((n) => n.state === 'loaded').map((n) => n.node));
}

/**
 * Watches the update until `during` settles. Tasks are read first and the image's copies
 * after, so an old task seen stopping must show its node's copy already there.
 */
async function watchOrder(
  m: ManagerProc,
  oldImage: string,
  newImage: string,
  during: Promise<unknown>,
): Promise<{ violations: string[]; downloadSeen: boolean }> {
  const violations: string[] = [];
  let downloadSeen = false;
  let done = false;
  void during.finally(() => (done = true));
  while (!done) {
    const tasks = await cliJson<TaskView[]>(m, ['service', 'ps', SERVICE]).catch(() => []);
    const loaded = await loadedOn(m, newImage).catch(() => null);
    for (const t of tasks) {
      if (t.download) downloadSeen = true;
      const stopping =
        t.image === oldImage && (t.desiredState === 'shutdown' || t.state === 'shutdown');
      if (stopping && loaded && t.nodeName && !loaded.has(t.nodeName)) {
        violations.push(`${t.name} on ${t.nodeName} stopped before ${newImage} was there`);
      }
    }
    await sleep(150);
  }
  return { violations, downloadSeen };
}

test(
  'a rolling update waits for every node to download the new image first, and is timed without that too',
  { timeout: 600_000 },
  async (t) => {
    if (!(await requireDocker(t))) return;
    const v1 = await buildLaptopImage(t, { bigMiB: 1, repo: 'fleet-test/rollout' });
    const v2 = await buildLaptopImage(t, { bigMiB: 12, repo: 'fleet-test/rollout' });
    const v3 = await buildLaptopImage(t, { bigMiB: 12, repo: 'fleet-test/rollout' });
    const engines = await startEngines(t, 3, { prefix: 'flroll' });
    const cluster = await startDockerCluster(
      t,
      engines.map((e, i) => ({
        name: `roll-${i + 1}`,
        address: `127.0.13.${i + 1}`,
        dockerHost: e.host,
        // A slow download, so that replacing tasks without waiting would show.
        extraArgs: ['--max-bandwidth', '4M'],
      })),
      [SERVICE],
    );
    assert.ok(cluster);
    const { manager } = cluster;
    for (const image of [v1, v2, v3]) await cliOk(manager, ['image', 'push', '-q', image.name]);
    await cliOk(manager, [
      'service',
      'create',
      '--name',
      SERVICE,
      '--replicas',
      '3',
      '--max-replicas-per-node',
      '1',
      '--update-parallelism',
      '1',
      '--update-monitor',
      '1s',
      v1.name,
    ]);
    await waitFor(async () => ((await runningTasks(manager, SERVICE)).length === 3 ? true : null), {
      what: '3 tasks of v1',
      timeoutMs: 90_000,
      intervalMs: 500,
    });

    let started = Date.now();
    const withPrefetch = cli(
      manager,
      ['service', 'update', SERVICE, '--image', v2.name, '--timeout', '4m'],
      300_000,
    );
    const seen = await watchOrder(manager, v1.name, v2.name, withPrefetch);
    const r2 = await withPrefetch;
    const prefetchMs = Date.now() - started;
    assert.equal(r2.code, 0, `update to v2 failed: ${r2.stderr}`);
    assert.deepEqual(seen.violations, [], 'no old task stopped before its node had the new image');
    assert.ok(seen.downloadSeen, 'service ps showed the nodes downloading the new image');
    assert.equal((await loadedOn(manager, v2.name)).size, 3);

    started = Date.now();
    const r3 = await cli(
      manager,
      ['service', 'update', SERVICE, '--image', v3.name, '--prefetch=false', '--timeout', '4m'],
      300_000,
    );
    const plainMs = Date.now() - started;
    assert.equal(r3.code, 0, `update to v3 failed: ${r3.stderr}`);
    const now = await cliJson<TaskView[]>(manager, ['service', 'ps', SERVICE]);
    const onV3 = now.filter((x) => x.image === v3.name && x.state === 'running');
    assert.equal(onV3.length, 3, 'three tasks of v3 run');
    t.diagnostic(
      `3 tasks, a 12 MiB layer at 4 MiB/s per node: update with prefetch ${(prefetchMs / 1000).toFixed(1)} s, without ${(plainMs / 1000).toFixed(1)} s`,
    );
  },
);
