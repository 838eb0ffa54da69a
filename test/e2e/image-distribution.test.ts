// Images without a registry: pushed from the laptop's engine, run on boards whose own engines never had them, neighbours first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageDetail } from '../../shared/api-images.js';
import { cliOk, runningTasks } from '../helpers/cluster.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { requireDocker, taskContainers } from '../helpers/docker.js';
import { engineDocker, listImages, startEngines } from '../helpers/engines.js';
import { buildLaptopImage } from '../helpers/pushed-image.js';
import { waitFor } from '../helpers/wait.js';

const inspectImage = async (m: Parameters<typeof cliOk>[0], name: string): Promise<ImageDetail> => {
  const [d] = JSON.parse(await cliOk(m, ['image', 'inspect', name])) as ImageDetail[];
  assert.ok(d);
  return d;
};

test('a pushed image runs as 3 replicas on three boards whose engines never had it, with no registry', async (t) => {
  if (!(await requireDocker(t))) return;
  const image = await buildLaptopImage(t, { bigMiB: 4 });
  const engines = await startEngines(t, 3, { prefix: 'flpush' });
  const cluster = await startDockerCluster(
    t,
    engines.map((e, i) => ({
      name: `push-${i + 1}`,
      address: `127.0.10.${i + 1}`,
      dockerHost: e.host,
    })),
    ['pushed'],
  );
  assert.ok(cluster);
  const { manager, nodes } = cluster;
  for (const e of engines) assert.deepEqual(await listImages(e), [], `${e.name} starts empty`);

  const pushed = await cliOk(manager, ['image', 'push', image.name]);
  assert.match(pushed, new RegExp(`${image.name}: digest: sha256:[0-9a-f]{64}`));
  const ls = await cliOk(manager, ['image', 'ls']);
  assert.match(ls, new RegExp(image.name.replace(/[.:/]/g, '\\$&')));

  await cliOk(manager, [
    'service',
    'create',
    '--name',
    'pushed',
    '--replicas',
    '3',
    '--max-replicas-per-node',
    '1',
    image.name,
  ]);
  await waitFor(async () => ((await runningTasks(manager, 'pushed')).length === 3 ? true : null), {
    what: '3 running tasks of the pushed image',
    timeoutMs: 90_000,
    intervalMs: 500,
  });
  for (const [i, e] of engines.entries()) {
    const here = await taskContainers('pushed', { socket: e.socket });
    assert.equal(here.length, 1, `one task on ${e.name}`);
    const inspect = await engineDocker(e).getImage(image.name).inspect();
    assert.equal(inspect.Id, image.id, `${e.name} loaded the pushed content under its name`);
    const node = nodes[i];
    assert.ok(node);
  }
  const detail = await waitFor(
    async () => {
      const d = await inspectImage(manager, image.name);
      return d.nodes.filter((n) => n.state === 'loaded').length === 3 ? d : null;
    },
    { what: 'image inspect to list 3 nodes with the image', timeoutMs: 20_000, intervalMs: 500 },
  );
  assert.deepEqual(detail.usedBy, ['pushed']);
  assert.equal(detail.manager.missingBlobs, 0);
  const rm = await cliOk(manager, ['image', 'rm', image.name]).catch((e: Error) => e.message);
  assert.match(rm, /in use by service pushed/);
});

test('the second board on a site gets the big layer from the first, not from the manager', async (t) => {
  if (!(await requireDocker(t))) return;
  const image = await buildLaptopImage(t, { bigMiB: 8 });
  const engines = await startEngines(t, 2, { prefix: 'flsite' });
  const cluster = await startDockerCluster(
    t,
    engines.map((e, i) => ({
      name: `site-${i + 1}`,
      address: `127.0.11.${i + 1}`,
      dockerHost: e.host,
      labels: ['site=greenhouse'],
    })),
    ['first', 'second'],
  );
  assert.ok(cluster);
  const { manager } = cluster;
  await cliOk(manager, ['image', 'push', image.name]);
  const big = 8 * 1024 * 1024;

  await cliOk(manager, [
    'service',
    'create',
    '--name',
    'first',
    '--constraint',
    'node.hostname==site-1',
    image.name,
  ]);
  const first = await waitFor(
    async () => {
      const d = await inspectImage(manager, image.name);
      return d.nodes.find((n) => n.node === 'site-1' && n.state === 'loaded') ?? null;
    },
    { what: 'site-1 to load the image', timeoutMs: 90_000, intervalMs: 500 },
  );
  assert.ok(
    first.fromManager >= big,
    `site-1 took the layer from the manager (${first.fromManager} bytes)`,
  );
  assert.equal(first.fromPeers, 0);

  await cliOk(manager, [
    'service',
    'create',
    '--name',
    'second',
    '--constraint',
    'node.hostname==site-2',
    image.name,
  ]);
  const second = await waitFor(
    async () => {
      const d = await inspectImage(manager, image.name);
      return d.nodes.find((n) => n.node === 'site-2' && n.state === 'loaded') ?? null;
    },
    { what: 'site-2 to load the image', timeoutMs: 90_000, intervalMs: 500 },
  );
  assert.ok(
    second.fromPeers >= big,
    `site-2 took the big layer from site-1 (${second.fromPeers} bytes)`,
  );
  assert.ok(
    second.fromManager < big / 4,
    `and little from the manager (${second.fromManager} bytes)`,
  );
  await waitFor(async () => ((await runningTasks(manager, 'second')).length === 1 ? true : null), {
    what: 'the second service running',
    timeoutMs: 30_000,
  });
});

test('three boards of one site starting together take one copy from the manager between them', async (t) => {
  if (!(await requireDocker(t))) return;
  const image = await buildLaptopImage(t, { bigMiB: 8 });
  const engines = await startEngines(t, 3, { prefix: 'fltogether' });
  const cluster = await startDockerCluster(
    t,
    engines.map((e, i) => ({
      name: `lab-${i + 1}`,
      address: `127.0.12.${i + 1}`,
      dockerHost: e.host,
      labels: ['lan=lab'],
      // Slow enough that all three are downloading at once.
      extraArgs: ['--max-bandwidth', '4M'],
    })),
    ['together'],
  );
  assert.ok(cluster);
  const { manager } = cluster;
  await cliOk(manager, ['image', 'push', image.name]);
  const size = (await inspectImage(manager, image.name)).size;
  await cliOk(manager, [
    'service',
    'create',
    '--name',
    'together',
    '--replicas',
    '3',
    '--max-replicas-per-node',
    '1',
    image.name,
  ]);
  const nodes = await waitFor(
    async () => {
      const d = await inspectImage(manager, image.name);
      const loaded = d.nodes.filter((n) => n.state === 'loaded');
      return loaded.length === 3 ? loaded : null;
    },
    { what: 'all three boards to load the image', timeoutMs: 120_000, intervalMs: 500 },
  );
  const fromManager = nodes.reduce((a, n) => a + n.fromManager, 0);
  const fromPeers = nodes.reduce((a, n) => a + n.fromPeers, 0);
  t.diagnostic(
    `image ${size} bytes: ${fromManager} from the manager, ${fromPeers} from neighbours`,
  );
  assert.ok(
    fromManager <= 1.5 * size,
    `the manager sent ${fromManager} bytes for a ${size}-byte image`,
  );
  assert.ok(fromPeers >= size, 'the rest came from neighbours');
  await waitFor(
    async () => ((await runningTasks(manager, 'together')).length === 3 ? true : null),
    {
      what: 'three running tasks',
      timeoutMs: 30_000,
    },
  );
});
