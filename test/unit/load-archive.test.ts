// The docker-save archive built from blob files: manifest, config, only the layers not skipped, and refusals before loading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { openLoadArchive } from '../../agent/images/load-archive.js';
import { isImageLoadError, type ImageLoadProblem } from '../../agent/images/load-errors.js';
import { BlobStore } from '../../shared/blobs/blob-store.js';
import { MEDIA } from '../../shared/image-archive/description.js';
import { scanTar } from '../../shared/image-archive/tar-reader.js';
import type { ClusterPlatformImage } from '../../shared/images/cluster-image.js';
import { sha256, tarBuffer } from '../helpers/tar-writer.js';

async function put(store: BlobStore, data: Buffer): Promise<string> {
  const digest = sha256(data);
  await store.writeChunk(digest, 0, data);
  await store.complete(digest);
  return digest;
}

/** A two-layer image in a fresh blob store: a plain tar base and a gzip layer on top. */
async function fixture(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-loadarch-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const store = await BlobStore.open(dir);
  const base = tarBuffer([{ name: 'a.txt', data: Buffer.from('base\n') }]);
  const top = tarBuffer([{ name: 'b.txt', data: Buffer.from('top\n') }]);
  const topGz = gzipSync(top);
  const diffIds = [sha256(base), sha256(top)];
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'arm64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const image: ClusterPlatformImage = {
    manifestDigest: sha256(Buffer.from('{}')),
    manifestSize: 0,
    configDigest: await put(store, config),
    configSize: config.length,
    layers: [
      {
        digest: await put(store, base),
        size: base.length,
        mediaType: MEDIA.ociLayer,
        diffId: diffIds[0] ?? '',
      },
      {
        digest: await put(store, topGz),
        size: topGz.length,
        mediaType: MEDIA.ociLayerGzip,
        diffId: diffIds[1] ?? '',
      },
    ],
    os: 'linux',
    architecture: 'arm64',
  };
  return { store, image, config, topGz };
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

const hex = (digest: string): string => digest.slice('sha256:'.length);

test('the archive holds manifest.json, the config and only the layers not skipped', async (t) => {
  const { store, image, config, topGz } = await fixture(t);
  const archive = await openLoadArchive({
    image,
    tag: 'fleet-loadarch-test/x:1',
    blobPath: (d) => store.pathOf(d),
    skipLayers: 1,
  });
  const bytes = await readAll(archive.stream);
  assert.equal(bytes.length, archive.bytes);
  assert.equal(archive.layerFiles, 1);
  const files = await scanTar(once(bytes), () => true);
  const layerPaths = image.layers.map((l) => `${hex(l.digest)}/layer.tar`);
  assert.deepEqual(
    files.map((f) => f.name),
    ['manifest.json', `${hex(image.configDigest)}.json`, layerPaths[1]],
  );
  assert.deepEqual(JSON.parse(files[0]?.data?.toString() ?? ''), [
    {
      Config: `${hex(image.configDigest)}.json`,
      RepoTags: ['fleet-loadarch-test/x:1'],
      Layers: layerPaths,
    },
  ]);
  assert.deepEqual(files[1]?.data, config);
  assert.equal(files[2]?.digest, sha256(topGz), 'the gzip blob goes in as it is');
});

test('nothing skipped and no tag: every layer, RepoTags empty', async (t) => {
  const { store, image } = await fixture(t);
  const archive = await openLoadArchive({ image, tag: null, blobPath: (d) => store.pathOf(d) });
  const files = await scanTar(archive.stream, () => true);
  assert.equal(files.length, 4);
  assert.deepEqual(
    (JSON.parse(files[0]?.data?.toString() ?? '') as [{ RepoTags: [] }])[0].RepoTags,
    [],
  );
});

async function refuses(run: Promise<unknown>, problem: ImageLoadProblem, message: RegExp) {
  await assert.rejects(run, (e: unknown) => {
    assert.ok(isImageLoadError(e), String(e));
    assert.equal(e.problem, problem);
    assert.match(e.message, message);
    return true;
  });
}

test('zstd layers, missing blobs and configs that disagree are refused before any byte is sent', async (t) => {
  const { store, image } = await fixture(t);
  const blobPath = (d: string): string => store.pathOf(d);
  const tag = 'fleet-loadarch-test/x:1';
  const zstdType = structuredClone(image);
  zstdType.layers[1] = { ...image.layers[1]!, mediaType: MEDIA.ociLayerZstd };
  await refuses(
    openLoadArchive({ image: zstdType, tag, blobPath }),
    'zstd-layer',
    /x:1: layer sha256:\w+ is zstd-compressed/,
  );

  const zstdBytes = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(60)]);
  const sneaky = structuredClone(image);
  sneaky.layers[1] = {
    ...image.layers[1]!,
    digest: await put(store, zstdBytes),
    size: zstdBytes.length,
  };
  await refuses(openLoadArchive({ image: sneaky, tag, blobPath }), 'zstd-layer', /zstd/);
  // A skipped layer is not read at all, so it may be absent or anything.
  await openLoadArchive({ image: sneaky, tag, blobPath, skipLayers: 2 });

  const missing = structuredClone(image);
  missing.layers[1] = { ...image.layers[1]!, digest: sha256(Buffer.from('nope')) };
  await refuses(
    openLoadArchive({ image: missing, tag, blobPath }),
    'missing-blob',
    /layer blob sha256:\w+ is not stored/,
  );
  const wrongSize = structuredClone(image);
  wrongSize.layers[1] = { ...image.layers[1]!, size: 1 };
  await refuses(
    openLoadArchive({ image: wrongSize, tag, blobPath }),
    'missing-blob',
    /the image says 1/,
  );

  const swapped = structuredClone(image);
  swapped.layers.reverse();
  await refuses(
    openLoadArchive({ image: swapped, tag, blobPath }),
    'bad-config',
    /rootfs.diff_ids \(2\) do not match/,
  );
  await assert.rejects(openLoadArchive({ image, tag, blobPath, skipLayers: 3 }), RangeError);
});
