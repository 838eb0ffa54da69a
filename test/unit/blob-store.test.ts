// Blob store on real temp files: chunked uploads that resume after a restart, verification, dedup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobStore, isBlobStoreError } from '../../shared/blobs/blob-store.js';
import { sha256 } from '../helpers/tar-writer.js';

async function tempStore(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-blobs-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return { dir, store: await BlobStore.open(dir) };
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

test('a chunked upload resumes after the store is opened again and is stored under its digest', async (t) => {
  const { dir, store } = await tempStore(t);
  const blob = randomBytes(300_000);
  const digest = sha256(blob);
  assert.equal(await store.writeChunk(digest, 0, blob.subarray(0, 100_000)), 100_000);
  assert.equal(await store.writeChunk(digest, 100_000, blob.subarray(100_000, 150_000)), 150_000);

  const reopened = await BlobStore.open(dir);
  const resumeAt = await reopened.uploadedBytes(digest);
  assert.equal(resumeAt, 150_000);
  await reopened.writeChunk(digest, resumeAt, blob.subarray(resumeAt));
  assert.equal(await reopened.has(digest), false, 'not visible before complete');
  assert.equal(await reopened.complete(digest), 'stored');

  assert.equal(await reopened.has(digest), true);
  assert.equal(await reopened.size(digest), blob.length);
  assert.deepEqual(await readAll(await reopened.open(digest)), blob);
  assert.deepEqual(await reopened.list(), [{ digest, size: blob.length }]);
  assert.equal(await reopened.uploadedBytes(digest), 0);
  const onDisk = await fs.readFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)));
  assert.deepEqual(onDisk, blob);
  assert.deepEqual(await fs.readdir(path.join(dir, 'blobs', 'uploads')), []);
});

test('a chunk that does not start at the end of the upload is refused with where to resume', async (t) => {
  const { store } = await tempStore(t);
  const blob = randomBytes(1000);
  const digest = sha256(blob);
  await store.writeChunk(digest, 0, blob.subarray(0, 400));
  for (const offset of [0, 300, 500]) {
    await assert.rejects(store.writeChunk(digest, offset, blob.subarray(offset)), (e: unknown) => {
      assert.ok(isBlobStoreError(e, 'wrong-offset'));
      assert.equal(e.uploadedBytes, 400);
      assert.match(e.message, new RegExp(`offset ${offset} refused .* resume at 400$`));
      return true;
    });
  }
  assert.equal(await store.uploadedBytes(digest), 400);
});

test('chunks sent at once for one digest are applied one after another', async (t) => {
  const { store } = await tempStore(t);
  const blob = randomBytes(2000);
  const digest = sha256(blob);
  const results = await Promise.allSettled([
    store.writeChunk(digest, 0, blob.subarray(0, 1000)),
    store.writeChunk(digest, 0, blob.subarray(0, 1000)),
    store.writeChunk(digest, 1000, blob.subarray(1000)),
  ]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  assert.equal(await store.complete(digest), 'stored');
});

test('completing bytes that do not match the digest removes the upload and says what they hashed to', async (t) => {
  const { store } = await tempStore(t);
  const blob = randomBytes(5000);
  const digest = sha256(blob);
  const corrupt = Buffer.from(blob);
  corrupt[4000] = (corrupt[4000] ?? 0) ^ 1;
  await store.writeChunk(digest, 0, corrupt);
  await assert.rejects(store.complete(digest), (e: unknown) => {
    assert.ok(isBlobStoreError(e, 'digest-mismatch'));
    assert.equal(
      e.message,
      `upload of ${digest} does not match its digest: got ${sha256(corrupt)} over 5000 bytes; the upload was removed`,
    );
    return true;
  });
  assert.equal(await store.uploadedBytes(digest), 0);
  assert.equal(await store.has(digest), false);
  assert.deepEqual(await store.list(), []);
});

test('completing a digest that is already stored drops the upload (deduplication)', async (t) => {
  const { dir, store } = await tempStore(t);
  const blob = randomBytes(2048);
  const digest = sha256(blob);
  await store.writeChunk(digest, 0, blob);
  assert.equal(await store.complete(digest), 'stored');
  await store.writeChunk(digest, 0, blob);
  assert.equal(await store.complete(digest), 'deduplicated');
  assert.equal(await store.complete(digest), 'deduplicated', 'a repeated complete is a no-op');
  assert.deepEqual(await fs.readdir(path.join(dir, 'blobs', 'uploads')), []);
  assert.deepEqual(await store.list(), [{ digest, size: blob.length }]);
});

test('remove deletes a blob; missing blobs and bad digests are named errors', async (t) => {
  const { store } = await tempStore(t);
  const blob = randomBytes(10);
  const digest = sha256(blob);
  await store.writeChunk(digest, 0, blob);
  await store.complete(digest);
  assert.equal(await store.remove(digest), true);
  assert.equal(await store.remove(digest), false);
  assert.equal(await store.has(digest), false);
  await assert.rejects(store.size(digest), (e: unknown) => isBlobStoreError(e, 'not-found'));
  await assert.rejects(store.open(digest), (e: unknown) => isBlobStoreError(e, 'not-found'));
  await assert.rejects(store.complete(digest), /^BlobStoreError: no upload of sha256:/);
  await assert.rejects(store.has('sha256:../../etc'), (e: unknown) =>
    isBlobStoreError(e, 'invalid-digest'),
  );
  await assert.rejects(store.writeChunk('md5:abc', 0, blob), /invalid digest "md5:abc"/);
});
