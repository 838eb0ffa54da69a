// Image archive reader: docker save and OCI layouts described correctly, and every broken archive named.
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { readImageArchive, readImageArchiveFile } from '../../shared/image-archive/read-archive.js';
import { scanTar } from '../../shared/image-archive/tar-reader.js';
import { isImageArchiveError } from '../../shared/image-archive/errors.js';
import type { ImageArchiveProblem } from '../../shared/image-archive/errors.js';
import { dockerSaveArchive, ociArchive, tarFromFiles } from '../helpers/image-archives.js';
import { sha256, tarBuffer } from '../helpers/tar-writer.js';

const run = promisify(execFile);

/** Feeds the archive in chunks of `size` bytes, as a stream would. */
async function* chunks(data: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function rejectsWith(data: Buffer, problem: ImageArchiveProblem, message: RegExp) {
  await assert.rejects(readImageArchive(chunks(data)), (e: unknown) => {
    assert.ok(isImageArchiveError(e), `expected an ImageArchiveError, got ${String(e)}`);
    assert.equal(e.problem, problem);
    assert.match(e.message, message);
    return true;
  });
}

test('a docker save archive gives its tags, platform, config digest and layers in order', async () => {
  const built = dockerSaveArchive();
  const d = await readImageArchive(chunks(built.tar));
  assert.equal(d.format, 'docker-save');
  assert.equal(d.images.length, 1);
  const image = d.images[0];
  assert.deepEqual(image?.tags, ['example/app:1', 'example/app:latest']);
  assert.equal(image?.platforms.length, 1);
  const p = image?.platforms[0];
  assert.deepEqual(p?.platform, { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.equal(p?.config.digest, built.configDigest);
  assert.deepEqual(
    p?.layers.map((l) => ({ digest: l.digest, size: l.size })),
    built.layers,
  );
  assert.deepEqual(
    p?.layers.map((l) => l.mediaType),
    [
      'application/vnd.docker.image.rootfs.diff.tar',
      'application/vnd.docker.image.rootfs.diff.tar',
    ],
  );
  // The second layer's path is longer than 100 bytes: it came through a GNU long name.
  assert.ok((p?.layers[1]?.path.length ?? 0) > 100);
});

test('chunk boundaries anywhere in headers and bodies give the same description', async () => {
  const built = dockerSaveArchive();
  const whole = await readImageArchive(chunks(built.tar));
  for (const size of [1, 7, 511, 513]) {
    assert.deepEqual(await readImageArchive(chunks(built.tar, size)), whole, `chunks of ${size}`);
  }
});

test('an OCI layout with a two-platform index gives both platforms and skips the attestation', async () => {
  const built = ociArchive();
  const d = await readImageArchive(chunks(built.tar));
  assert.equal(d.format, 'oci-layout');
  assert.equal(d.images.length, 1);
  const image = d.images[0];
  assert.deepEqual(image?.tags, ['example/multi:1.0']);
  assert.equal(image?.index?.digest, built.indexDigest);
  assert.deepEqual(
    image?.platforms.map((p) => ({
      architecture: p.platform.architecture,
      variant: p.platform.variant,
      manifestDigest: p.manifest?.digest,
      configDigest: p.config.digest,
      layers: p.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    })),
    built.platforms.map((p) => ({ ...p, variant: p.variant })),
  );
});

test('a Docker 25 docker save (manifest.json naming blobs/sha256 files beside index.json) is read by its manifest.json', async () => {
  const oci = ociArchive();
  const arm64 = oci.platforms[0];
  const blob = (digest: string | undefined) => `blobs/sha256/${digest?.slice(7)}`;
  const files = new Map(oci.files);
  const manifest = [
    {
      Config: blob(arm64?.configDigest),
      RepoTags: ['example/new:2'],
      Layers: arm64?.layers.map((l) => blob(l.digest)),
    },
  ];
  files.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
  const d = await readImageArchive(chunks(tarFromFiles(files)));
  assert.equal(d.format, 'docker-save');
  assert.deepEqual(d.images[0]?.tags, ['example/new:2']);
  const p = d.images[0]?.platforms[0];
  assert.deepEqual(p?.platform, { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.equal(p?.config.digest, arm64?.configDigest);
  assert.deepEqual(
    p?.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    arm64?.layers,
  );
});

test('archives made by tar(1) in GNU and POSIX formats read the same as ours', async (t) => {
  const built = ociArchive();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-oci-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const tree = path.join(dir, 'layout');
  for (const [name, data] of built.files) {
    await fs.mkdir(path.join(tree, path.dirname(name)), { recursive: true });
    await fs.writeFile(path.join(tree, name), data);
  }
  const expected = await readImageArchive(chunks(built.tar));
  for (const format of ['gnu', 'posix']) {
    const file = path.join(dir, `${format}.tar`);
    await run('tar', [`--format=${format}`, '-cf', file, '-C', tree, '.']);
    const got = await readImageArchiveFile(file);
    // Where each blob sits differs between tar formats; what the blobs are does not.
    assert.deepEqual(withoutOffsets(got), withoutOffsets(expected), format);
    const bytes = await fs.readFile(file);
    for (const p of got.images.flatMap((i) => i.platforms)) {
      for (const b of [p.config, ...p.layers]) {
        const at = bytes.subarray(b.offset, b.offset + b.size);
        assert.equal(
          `sha256:${createHash('sha256').update(at).digest('hex')}`,
          b.digest,
          `${format} offset of ${b.path}`,
        );
      }
    }
  }
});

const withoutOffsets = (d: unknown): unknown =>
  JSON.parse(JSON.stringify(d, (k, v: unknown) => (k === 'offset' ? undefined : v)));

test('pax and GNU long names over 100 bytes name the file they precede', async () => {
  const long = `${'x'.repeat(120)}/file`;
  for (const longName of ['pax', 'gnu'] as const) {
    const data = Buffer.from('long-named content');
    const tar = tarBuffer([
      { name: long, data, longName },
      { name: 'short', data },
    ]);
    const files = await scanTar(chunks(tar, 100), () => false);
    assert.deepEqual(
      files.map((f) => [f.name, f.size, f.digest]),
      [
        [long, data.length, sha256(data)],
        ['short', data.length, sha256(data)],
      ],
      longName,
    );
  }
});

test('a pax size record overrides the size in the header', async () => {
  const data = Buffer.from('x'.repeat(1500));
  const tar = tarBuffer([
    { name: 'big', data, paxSize: true },
    { name: 'after', data },
  ]);
  const files = await scanTar(chunks(tar, 333), () => false);
  assert.deepEqual(
    files.map((f) => [f.name, f.size, f.digest]),
    [
      ['big', 1500, sha256(data)],
      ['after', 1500, sha256(data)],
    ],
  );
});

test('random bytes are not a tar archive', async () => {
  await rejectsWith(randomBytes(4096), 'not-tar', /^not a tar archive: .*bad checksum/);
  await rejectsWith(Buffer.alloc(0), 'not-tar', /^not a tar archive: it is empty/);
});

test('a file shorter than its header says is a truncated archive', async () => {
  const built = dockerSaveArchive();
  // Cut inside the second layer's bytes.
  const layer = built.entries[2]?.data ?? Buffer.alloc(0);
  const at = built.tar.indexOf(layer) + 100;
  await rejectsWith(
    built.tar.subarray(0, at),
    'truncated',
    /^truncated archive: b+-c+\/layer\.tar should hold \d+ bytes but the archive ends after 100$/,
  );
  // Cut right after the last file, before the end-of-archive blocks.
  await rejectsWith(built.tar.subarray(0, built.tar.length - 1024), 'truncated', /end-of-archive/);
});

test('a tar without manifest.json or index.json is not an image archive', async () => {
  const built = dockerSaveArchive({ omit: 'manifest.json' });
  await rejectsWith(
    built.tar,
    'not-image',
    /^not an image archive: no manifest\.json or index\.json/,
  );
});

test('a manifest naming a missing blob says which file is missing', async () => {
  const built = dockerSaveArchive();
  const missing = built.entries[1]?.name ?? '';
  const tar = tarBuffer(built.entries.filter((e) => e.name !== missing));
  await rejectsWith(tar, 'missing-blob', new RegExp(`names a missing file: ${missing}$`));

  const oci = ociArchive();
  const layerPath = `blobs/sha256/${oci.platforms[1]?.layers[0]?.digest.slice(7)}`;
  const files = new Map(oci.files);
  files.delete(layerPath);
  await rejectsWith(tarFromFiles(files), 'missing-blob', new RegExp(`missing file: ${layerPath}$`));
});

test('a flipped byte in a blob is a digest mismatch naming the blob and what it hashed to', async () => {
  const oci = ociArchive();
  const layer = oci.platforms[0]?.layers[1];
  const layerPath = `blobs/sha256/${layer?.digest.slice(7)}`;
  const files = new Map(oci.files);
  const bytes = Buffer.from(files.get(layerPath) ?? Buffer.alloc(0));
  bytes[10] = (bytes[10] ?? 0) ^ 0xff;
  files.set(layerPath, bytes);
  await rejectsWith(
    tarFromFiles(files),
    'digest-mismatch',
    new RegExp(`^digest mismatch for ${layerPath}: got ${sha256(bytes)}$`),
  );
});

test('a legacy config whose bytes do not match its image id is a digest mismatch', async () => {
  const built = dockerSaveArchive();
  const entries = built.entries.map((e) =>
    e.name.endsWith('.json') && e.name !== 'manifest.json'
      ? { ...e, data: Buffer.from(e.data.toString().replace('"arm"', '"arm64"')) }
      : e,
  );
  await rejectsWith(
    tarBuffer(entries),
    'digest-mismatch',
    /^digest mismatch for [0-9a-f]{64}\.json/,
  );
});

test('a descriptor whose size differs from the blob is refused', async () => {
  const oci = ociArchive();
  const files = new Map(oci.files);
  const index = JSON.parse(files.get('index.json')?.toString() ?? '{}') as {
    manifests: { size: number }[];
  };
  const first = index.manifests[0];
  if (first) first.size += 1;
  files.set('index.json', Buffer.from(JSON.stringify(index)));
  await rejectsWith(tarFromFiles(files), 'size-mismatch', /^size mismatch for blobs\/sha256\//);
});

test('a manifest.json that is not JSON says so', async () => {
  const built = dockerSaveArchive();
  const entries = built.entries.map((e) =>
    e.name === 'manifest.json' ? { ...e, data: Buffer.from('{"Config": ') } : e,
  );
  await rejectsWith(tarBuffer(entries), 'bad-json', /^manifest\.json is not valid JSON/);
});
