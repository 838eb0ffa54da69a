// --registry-fallback end to end: the fleet's copy of a registry-named image is broken; only the service that allows it pulls from the registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import type { TaskView } from '../../shared/api.js';
import type { ImageDetail } from '../../shared/api-images.js';
import { cliJson, cliOk, freePort, type ManagerProc } from '../helpers/cluster.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { DOCKER_SOCKET, requireDocker } from '../helpers/docker.js';
import { engineDocker, listImages, startEngines } from '../helpers/engines.js';
import { buildLaptopImage } from '../helpers/pushed-image.js';
import { REGISTRY_BIN, pushImage, requireTool, startRegistry } from '../helpers/registry.js';
import { waitFor } from '../helpers/wait.js';

const REGISTRY_HOST = '127.0.15.20';

/** Makes the fleet's copy unusable: the image's biggest layer is gone from the manager's store. */
async function breakFleetCopy(manager: ManagerProc, name: string): Promise<void> {
  const [detail] = JSON.parse(await cliOk(manager, ['image', 'inspect', name])) as ImageDetail[];
  const layers = detail?.platformImages[0]?.layers ?? [];
  const big = [...layers].sort((a, b) => b.size - a.size)[0];
  assert.ok(big, 'the pushed image has layers');
  await fs.rm(path.join(manager.dataDir, 'blobs', 'sha256', big.digest.slice(7)));
}

test("a node that cannot get the fleet's copy pulls from the registry only with --registry-fallback", async (t) => {
  if (!(await requireDocker(t))) return;
  if (!requireTool(t, REGISTRY_BIN, 'docker-registry')) return;
  const addr = `${REGISTRY_HOST}:${await freePort()}`;
  await startRegistry(t, addr);
  const image = await buildLaptopImage(t, { bigMiB: 1, repo: `${addr}/fleet-test/fallback` });
  const registryDigest = await pushImage(
    new Docker({ socketPath: DOCKER_SOCKET }),
    image.name,
    addr,
  );
  const engines = await startEngines(t, 2, { prefix: 'flmultifb' });
  const cluster = await startDockerCluster(
    t,
    engines.map((e, i) => ({
      name: `fb-${i + 1}`,
      address: `127.0.15.${11 + i}`,
      dockerHost: e.host,
    })),
    ['fallback-on', 'fallback-off'],
    { managerHost: '127.0.15.10' },
  );
  assert.ok(cluster);
  const { manager } = cluster;
  const [on, off] = engines;
  assert.ok(on && off);

  await cliOk(manager, ['image', 'push', image.name]);
  await breakFleetCopy(manager, image.name);

  for (const [name, node, extra] of [
    ['fallback-on', 'fb-1', ['--registry-fallback']],
    ['fallback-off', 'fb-2', []],
  ] as const) {
    await cliOk(manager, [
      'service',
      'create',
      '-d',
      '--name',
      name,
      '--constraint',
      `node.hostname==${node}`,
      ...extra,
      image.name,
    ]);
  }

  const running = await waitFor(
    async () =>
      (await cliJson<TaskView[]>(manager, ['service', 'ps', 'fallback-on'])).find(
        (x) => x.state === 'running',
      ) ?? null,
    { what: 'the fallback-on task running', timeoutMs: 90_000, intervalMs: 500 },
  );
  t.diagnostic(`fallback-on: ${running.message}`);
  assert.match(running.message, /^running \(image pulled from the registry: .*from the cluster/);
  assert.equal(running.digest, registryDigest, 'it runs the registry content, by its digest');
  assert.match(await cliOk(manager, ['service', 'ps', 'fallback-on']), /Running \(from registry\)/);
  const pulled = await engineDocker(on).getImage(image.name).inspect();
  assert.ok(pulled.RepoDigests?.some((r) => r.endsWith(registryDigest)));

  const refused = await waitFor(
    async () =>
      (await cliJson<TaskView[]>(manager, ['service', 'ps', 'fallback-off'])).find(
        (x) => x.state === 'rejected' || x.state === 'failed',
      ) ?? null,
    { what: 'the fallback-off task to fail', timeoutMs: 90_000, intervalMs: 500 },
  );
  t.diagnostic(`fallback-off: ${refused.state}: ${refused.error}`);
  assert.match(refused.error ?? '', /from the cluster/);
  const tasks = await cliJson<TaskView[]>(manager, ['service', 'ps', 'fallback-off']);
  assert.ok(!tasks.some((x) => x.state === 'running'), 'no fallback-off task ever runs');
  assert.ok(!(await listImages(off)).includes(image.name), 'fb-2 never pulled the image');
});
