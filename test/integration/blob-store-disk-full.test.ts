// Blob store on a full tmpfs: the chunk fails with a clear error and the upload resumes once space is freed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobStore, isBlobStoreError } from '../../shared/blobs/blob-store.js';
import { fillDisk, freeDisk, mountTmpfs, unmount } from '../helpers/tmpfs.js';
import { sha256 } from '../helpers/tar-writer.js';

test('a full disk while writing a chunk is a disk-full error and the upload resumes where it stopped', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-blobs-full-'));
  if (!(await mountTmpfs(t, dir, '4m'))) return fs.rm(dir, { recursive: true });
  t.after(async () => {
    await unmount(dir);
    await fs.rm(dir, { recursive: true, force: true });
  });

  const store = await BlobStore.open(dir);
  const blob = randomBytes(1024 * 1024);
  const digest = sha256(blob);
  await store.writeChunk(digest, 0, blob.subarray(0, 256 * 1024));
  const filler = fillDisk(dir);

  let kept = -1;
  await assert.rejects(
    store.writeChunk(digest, 256 * 1024, blob.subarray(256 * 1024)),
    (e: unknown) => {
      assert.ok(isBlobStoreError(e, 'disk-full'), String(e));
      kept = e.uploadedBytes ?? -1;
      assert.match(e.message, new RegExp(`^disk full while storing ${digest}: ${kept} bytes kept`));
      return true;
    },
  );
  assert.ok(kept >= 256 * 1024, `the chunks written before stay (${kept})`);
  assert.equal(await store.uploadedBytes(digest), kept);

  await freeDisk(filler);
  await store.writeChunk(digest, kept, blob.subarray(kept));
  assert.equal(await store.complete(digest), 'stored');
  assert.equal(await store.size(digest), blob.length);
});
