// Loading cluster images from a blob store into the real engine: skipped base layers, gzip, corrupt layers, tags.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { layersEngineHas } from '../../agent/images/engine-layers.js';
import { isImageLoadError, type ImageLoadProblem } from '../../agent/images/load-errors.js';
import { loadClusterImage, type LoadImageOptions } from '../../agent/images/load-image.js';
import { BlobStore } from '../../shared/blobs/blob-store.js';
import { systemClock } from '../../shared/clock.js';
import { MEDIA } from '../../shared/image-archive/description.js';
import { readImageArchiveFile } from '../../shared/image-archive/read-archive.js';
import type { ClusterLayer, ClusterPlatformImage } from '../../shared/images/cluster-image.js';
import { DOCKER_SOCKET, ensureTestImage, requireDocker, TEST_IMAGE } from '../helpers/docker.js';
import { sha256, tarBuffer } from '../helpers/tar-writer.js';

const run = promisify(execFile);
const PROBE = 'fleet-loadarch-probe.txt';

interface Base {
  dir: string;
  store: BlobStore;
  image: ClusterPlatformImage;
  config: Record<string, unknown> & { rootfs: { diff_ids: string[] }; history?: unknown[] };
}

let base: Base | null = null;
const names = new Set<string>();
const ids = new Set<string>();
const docker = new Docker({ socketPath: DOCKER_SOCKET });

async function put(store: BlobStore, data: Buffer): Promise<string> {
  const digest = sha256(data);
  await store.writeChunk(digest, 0, data);
  await store.complete(digest);
  return digest;
}

/** docker save of the test image, read with the archive reader, its blobs put in a blob store. */
async function saveTestImage(): Promise<Base> {
  await ensureTestImage();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-loadarch-'));
  const file = path.join(dir, 'base.tar');
  await run('docker', ['save', '-o', file, TEST_IMAGE]);
  const unpacked = path.join(dir, 'unpacked');
  await fs.mkdir(unpacked);
  await run('tar', ['-xf', file, '-C', unpacked]);
  const platform = (await readImageArchiveFile(file)).images[0]?.platforms[0];
  assert.ok(platform);
  const store = await BlobStore.open(path.join(dir, 'store'));
  const configBytes = await fs.readFile(path.join(unpacked, platform.config.path));
  await put(store, configBytes);
  const layers: ClusterLayer[] = [];
  for (const l of platform.layers) {
    await put(store, await fs.readFile(path.join(unpacked, l.path)));
    layers.push({ digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: l.digest });
  }
  const image: ClusterPlatformImage = {
    manifestDigest: sha256(Buffer.from('{}')),
    manifestSize: 2,
    configDigest: platform.config.digest,
    configSize: platform.config.size,
    layers,
    os: platform.platform.os,
    architecture: platform.platform.architecture,
  };
  return { dir, store, image, config: JSON.parse(configBytes.toString()) as Base['config'] };
}

interface Extra {
  content: string;
  gzip?: boolean;
  /** Store other bytes of the same length under the layer's digest, as a damaged disk would. */
  corrupt?: boolean;
}

/** The test image with extra layers on top, each holding /fleet-loadarch-probe.txt; a new config. */
async function derive(b: Base, extras: Extra[]): Promise<ClusterPlatformImage> {
  const layers = [...b.image.layers];
  for (const extra of extras) {
    const tar = tarBuffer([{ name: PROBE, data: Buffer.from(extra.content) }]);
    const stored = extra.gzip === true ? gzipSync(tar) : tar;
    const digest = sha256(stored);
    if (extra.corrupt === true) {
      const damaged = Buffer.from(tar);
      damaged[512] = 0x50; // the first byte of the file's content (after its header): 'p' → 'P'
      await fs.writeFile(b.store.pathOf(digest), damaged);
    } else {
      await put(b.store, stored);
    }
    layers.push({
      digest,
      size: stored.length,
      mediaType: extra.gzip === true ? MEDIA.dockerLayerGzip : MEDIA.dockerLayer,
      diffId: sha256(tar),
    });
  }
  const config = Buffer.from(
    JSON.stringify({
      ...b.config,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: [
        ...(b.config.history ?? []),
        ...extras.map(() => ({ created_by: 'fleet-loadarch test layer' })),
      ],
    }),
  );
  const configDigest = await put(b.store, config);
  ids.add(configDigest);
  return { ...b.image, configDigest, configSize: config.length, layers };
}

const unique = (what: string): string =>
  `probe ${what} ${process.pid} ${randomBytes(6).toString('hex')}\n`;

function options(b: Base, image: ClusterPlatformImage, name: string | null): LoadImageOptions {
  if (name !== null) names.add(name);
  return { docker, clock: systemClock, image, name, blobPath: (d) => b.store.pathOf(d) };
}

async function idOf(ref: string): Promise<string | null> {
  try {
    return (await docker.getImage(ref).inspect()).Id;
  } catch {
    return null;
  }
}

async function probe(id: string): Promise<string> {
  const { stdout } = await run('docker', [
    'run',
    '--rm',
    '--network',
    'none',
    id,
    'cat',
    `/${PROBE}`,
  ]);
  return stdout;
}

async function refuses(run: Promise<unknown>, problem: ImageLoadProblem, message: RegExp) {
  await assert.rejects(run, (e: unknown) => {
    assert.ok(isImageLoadError(e), String(e));
    assert.equal(e.problem, problem);
    assert.match(e.message, message);
    return true;
  });
}

async function setup(t: Parameters<typeof requireDocker>[0]): Promise<Base | null> {
  if (!(await requireDocker(t))) return null;
  base ??= await saveTestImage();
  return base;
}

after(async () => {
  for (const name of names) await run('docker', ['rmi', name]).catch(() => undefined);
  for (const id of ids) await run('docker', ['rmi', id]).catch(() => undefined);
  if (base !== null) await fs.rm(base.dir, { recursive: true, force: true });
});

test('a derived image loads without its base layer file, gets its config digest as ID and runs', async (t) => {
  const b = await setup(t);
  if (b === null) return;
  const name = 'fleet-loadarch-test/x:1';
  await run('docker', ['tag', TEST_IMAGE, name]); // the image the name pointed at before
  const content = unique('plain');
  const image = await derive(b, [{ content }]);
  assert.equal(
    await layersEngineHas(
      docker,
      image.layers.map((l) => l.diffId),
    ),
    1,
  );

  const result = await loadClusterImage(options(b, image, name));
  assert.deepEqual(result, { id: image.configDigest, tag: name, loaded: true, skippedLayers: 1 });
  assert.equal(await idOf(image.configDigest), image.configDigest);
  assert.equal(await idOf(name), image.configDigest);
  assert.equal(await probe(image.configDigest), content);

  // The engine has it now: another load only checks, and puts back a tag moved elsewhere.
  await run('docker', ['tag', TEST_IMAGE, name]);
  const again = await loadClusterImage(options(b, image, name));
  assert.equal(again.loaded, false);
  assert.equal(await idOf(name), image.configDigest);
});

test('a gzip layer loads as it is stored', async (t) => {
  const b = await setup(t);
  if (b === null) return;
  const content = unique('gzip');
  const image = await derive(b, [{ content, gzip: true }]);
  const result = await loadClusterImage(options(b, image, 'fleet-loadarch-test/gz'));
  assert.equal(result.tag, 'fleet-loadarch-test/gz:latest');
  assert.equal(await idOf('fleet-loadarch-test/gz:latest'), image.configDigest);
  assert.equal(await probe(image.configDigest), content);
});

test('a corrupt layer is refused naming the image, and the name keeps its previous image', async (t) => {
  const b = await setup(t);
  if (b === null) return;
  const name = 'fleet-loadarch-test/x:1';
  const previous = await derive(b, [{ content: unique('previous') }]);
  await loadClusterImage(options(b, previous, name));
  const corrupt = await derive(b, [{ content: unique('corrupt'), corrupt: true }]);
  await refuses(
    loadClusterImage(options(b, corrupt, name)),
    'engine-refused',
    /^docker load of fleet-loadarch-test\/x:1 refused: invalid diffID for layer 1/,
  );
  assert.equal(await idOf(name), previous.configDigest);
  assert.equal(await idOf(corrupt.configDigest), null);

  const absent = 'fleet-loadarch-test/none:1';
  await refuses(loadClusterImage(options(b, corrupt, absent)), 'engine-refused', /invalid diffID/);
  assert.equal(await idOf(absent), null);
});

test('a left-out layer the engine lacks is reported as gone, not as a missing repositories file', async (t) => {
  const b = await setup(t);
  if (b === null) return;
  const image = await derive(b, [{ content: unique('lower') }, { content: unique('upper') }]);
  const opts = { ...options(b, image, 'fleet-loadarch-test/gone:1'), skipLayers: 2 };
  await refuses(loadClusterImage(opts), 'layers-gone', /no longer has the 2 base layer/);
  assert.equal(await idOf('fleet-loadarch-test/gone:1'), null);
  await loadClusterImage({ ...opts, skipLayers: undefined });
  assert.equal(await idOf('fleet-loadarch-test/gone:1'), image.configDigest);
});

test('a load that outlasts its timeout is cancelled with a timeout error', async (t) => {
  const b = await setup(t);
  if (b === null) return;
  const image = await derive(b, [{ content: unique('slow') }]);
  const opts = { ...options(b, image, 'fleet-loadarch-test/slow:1'), skipLayers: 0, timeoutMs: 1 };
  await refuses(loadClusterImage(opts), 'timeout', /took more than 1 ms; cancelled/);
});
