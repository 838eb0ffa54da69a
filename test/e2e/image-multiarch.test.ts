// A two-platform OCI image pushed from a tarball: both platforms listed, an amd64 board fetches and runs only its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { TaskView } from '../../shared/api.js';
import type { ImageDetail } from '../../shared/api-images.js';
import { cliJson, cliOk, runningTasks, tempDir } from '../helpers/cluster.js';
import { startDockerCluster } from '../helpers/docker-cluster.js';
import { requireDocker } from '../helpers/docker.js';
import { engineDocker, listImages, startEngines } from '../helpers/engines.js';
import { buildMultiArchImage, platformBytes } from '../helpers/multiarch-image.js';
import { waitFor } from '../helpers/wait.js';

const ARM64_BYTES = 2 * 1024 * 1024;

const inspectImage = async (m: Parameters<typeof cliOk>[0], name: string): Promise<ImageDetail> => {
  const [d] = JSON.parse(await cliOk(m, ['image', 'inspect', name])) as ImageDetail[];
  assert.ok(d);
  return d;
};

test('an OCI index of amd64 and arm64: both are stored, an amd64 board gets and runs amd64 only', async (t) => {
  if (!(await requireDocker(t))) return;
  const image = await buildMultiArchImage({ arm64Bytes: ARM64_BYTES });
  const file = path.join(tempDir('multiarch'), 'multi.tar');
  await fs.writeFile(file, image.tar);
  t.after(() => fs.rm(path.dirname(file), { recursive: true, force: true }));
  const [engine] = await startEngines(t, 1, { prefix: 'flmulti' });
  assert.ok(engine);
  const cluster = await startDockerCluster(
    t,
    [{ name: 'multi-1', address: '127.0.15.2', dockerHost: engine.host }],
    ['multi'],
    { managerHost: '127.0.15.1' },
  );
  assert.ok(cluster);
  const { manager, agents, nodes } = cluster;
  const [agent] = agents;
  assert.ok(agent);
  if (nodes[0]?.arch !== 'amd64') {
    t.skip(`this test runs on an amd64 host; the node reports ${nodes[0]?.arch}`);
    return;
  }

  const pushed = await cliOk(manager, ['image', 'push', '--file', file]);
  assert.match(pushed, new RegExp(`${image.name}: digest: ${image.index.digest} `));
  assert.match(pushed, /platforms: linux\/amd64,linux\/arm64/);
  const ls = await cliOk(manager, ['image', 'ls']);
  const row = ls.split('\n').find((l) => l.startsWith(image.name));
  assert.ok(row, `image ls lists ${image.name}:\n${ls}`);
  assert.match(row, /linux\/amd64,linux\/arm64/);
  const stored = await inspectImage(manager, image.name);
  assert.equal(stored.digest, image.index.digest, 'the content is named by the index');
  assert.deepEqual(stored.index, { digest: image.index.digest, size: image.index.size });
  assert.deepEqual(stored.platforms, ['linux/amd64', 'linux/arm64']);
  for (const want of [image.amd64, image.arm64]) {
    const got = stored.platformImages.find((p) => p.architecture === want.architecture);
    assert.ok(got, `inspect has the ${want.architecture} platform`);
    assert.equal(got.manifestDigest, want.manifest.digest);
    assert.equal(got.configDigest, want.config.digest);
    assert.deepEqual(
      got.layers.map((l) => l.digest),
      want.layers.map((l) => l.digest),
    );
  }

  await cliOk(manager, ['service', 'create', '--name', 'multi', image.name]);
  await waitFor(async () => ((await runningTasks(manager, 'multi')).length === 1 ? true : null), {
    what: 'the task of the two-platform image running',
    timeoutMs: 90_000,
    intervalMs: 500,
  });
  const loaded = await engineDocker(engine).getImage(image.name).inspect();
  assert.equal(loaded.Id, image.amd64.config.digest, 'the engine holds the amd64 image');
  assert.equal(loaded.Architecture, 'amd64');

  const blobDir = path.join(agent.dataDir, 'images', 'blobs', 'sha256');
  const held = new Set((await fs.readdir(blobDir)).map((f) => `sha256:${f}`));
  for (const b of [image.amd64.config, ...image.amd64.layers])
    assert.ok(held.has(b.digest), `the agent holds amd64 blob ${b.digest}`);
  for (const b of [image.arm64.config, image.arm64.manifest, ...image.arm64.layers, image.index])
    assert.ok(!held.has(b.digest), `the agent never fetched ${b.digest}`);

  const onNode = await waitFor(
    async () =>
      (await inspectImage(manager, image.name)).nodes.find(
        (n) => n.node === 'multi-1' && n.state === 'loaded',
      ) ?? null,
    { what: 'image inspect to report the image loaded on multi-1', timeoutMs: 20_000 },
  );
  const received = onNode.fromManager + onNode.fromPeers;
  const amd64 = platformBytes(image.amd64);
  t.diagnostic(
    `received ${received} bytes; amd64 is ${amd64}, arm64 ${platformBytes(image.arm64)}`,
  );
  assert.equal(received, amd64, 'the board received exactly the amd64 config and layers');
  assert.ok(received < amd64 + ARM64_BYTES, 'and nothing of the arm64 layer');
});

test('an image the fleet stores for arm64 only is refused on an amd64 board, with the reason', async (t) => {
  if (!(await requireDocker(t))) return;
  const image = await buildMultiArchImage({ arm64Bytes: 64 * 1024, indexed: ['arm64'] });
  const file = path.join(tempDir('multiarch'), 'arm64-only.tar');
  await fs.writeFile(file, image.tar);
  t.after(() => fs.rm(path.dirname(file), { recursive: true, force: true }));
  const [engine] = await startEngines(t, 1, { prefix: 'flmulti' });
  assert.ok(engine);
  const cluster = await startDockerCluster(
    t,
    [{ name: 'multi-2', address: '127.0.15.3', dockerHost: engine.host }],
    ['armonly'],
    { managerHost: '127.0.15.1' },
  );
  assert.ok(cluster);
  const { manager, nodes } = cluster;
  if (nodes[0]?.arch !== 'amd64') {
    t.skip(`this test runs on an amd64 host; the node reports ${nodes[0]?.arch}`);
    return;
  }
  const pushed = await cliOk(manager, ['image', 'push', '--file', file]);
  assert.match(pushed, /platforms: linux\/arm64\n/);
  await cliOk(manager, ['service', 'create', '-d', '--name', 'armonly', image.name]);
  const refused = await waitFor(
    async () =>
      (await cliJson<TaskView[]>(manager, ['service', 'ps', 'armonly'])).find(
        (x) => x.state === 'rejected',
      ) ?? null,
    { what: 'the armonly task to be rejected', timeoutMs: 60_000, intervalMs: 500 },
  );
  assert.match(
    refused.error ?? '',
    new RegExp(
      `the fleet stores ${image.name} for linux/arm64 only, not for this node's linux/amd64`,
    ),
  );
  assert.deepEqual(await listImages(engine), [], 'nothing was pulled or loaded');
});
