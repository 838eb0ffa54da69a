// The image archive reader against a real engine's `docker save`: digests agree with docker image inspect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { readImageArchiveFile } from '../../shared/image-archive/read-archive.js';
import { ensureTestImage, requireDocker, TEST_IMAGE } from '../helpers/docker.js';

const run = promisify(execFile);

interface Inspect {
  Id: string;
  Os: string;
  Architecture: string;
  RootFS: { Layers: string[] };
}

test('docker save of the test image: layers match RootFS.Layers and the config matches the image ID', async (t) => {
  if (!(await requireDocker(t))) return;
  await ensureTestImage();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-save-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'image.tar');
  await run('docker', ['save', '-o', file, TEST_IMAGE]);
  const { stdout } = await run('docker', ['image', 'inspect', TEST_IMAGE]);
  const [inspect] = JSON.parse(stdout) as Inspect[];
  assert.ok(inspect);

  const d = await readImageArchiveFile(file);
  assert.equal(d.format, 'docker-save');
  const image = d.images[0];
  assert.deepEqual(image?.tags, [TEST_IMAGE]);
  const p = image?.platforms[0];
  assert.deepEqual(
    { os: p?.platform.os, architecture: p?.platform.architecture },
    { os: inspect.Os, architecture: inspect.Architecture },
  );
  // The image ID is the sha256 of the config JSON, which docker save writes byte for byte.
  assert.equal(p?.config.digest, inspect.Id);
  // RootFS.Layers are diff IDs: sha256 of each layer's uncompressed tar. docker save writes
  // layers uncompressed, so the digest of the bytes stored equals the diff ID; a compressed
  // OCI layer (buildx, a registry) would differ and need its diff ID from the config.
  assert.deepEqual(
    p?.layers.map((l) => l.digest),
    inspect.RootFS.Layers,
  );
  for (const layer of p?.layers ?? []) {
    assert.match(layer.mediaType, /\.tar$/, 'uncompressed');
  }
});
