// Fetching a blob from several sources: every chunk checked against its hash, bad sources skipped, resumed from disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobStore } from '../../shared/blobs/blob-store.js';
import { CHUNK_BYTES } from '../../shared/images/blob-protocol.js';
import { FetchError, fetchBlob, type BlobSource } from '../../shared/images/fetch-blob.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function hashesOf(blob: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let o = 0; o < blob.length; o += CHUNK_BYTES) {
    out.push(
      createHash('sha256')
        .update(blob.subarray(o, o + CHUNK_BYTES))
        .digest(),
    );
  }
  return Buffer.concat(out);
}

function source(
  name: string,
  kind: 'manager' | 'peer',
  blob: Buffer,
  tamper?: (o: number, b: Buffer) => Buffer,
) {
  const reads: number[] = [];
  const s: BlobSource & { reads: number[] } = {
    name,
    kind,
    reads,
    read: (_d, offset, length) => {
      reads.push(offset);
      const bytes = Buffer.from(blob.subarray(offset, offset + length));
      return Promise.resolve(tamper ? tamper(offset, bytes) : bytes);
    },
  };
  return s;
}

async function tempStore(t: { after: (fn: () => Promise<void>) => void }): Promise<BlobStore> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleet-fetch-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return BlobStore.open(dir);
}

test('a peer that sends a corrupt chunk is skipped; the chunk comes from the manager and the blob is whole', async (t) => {
  const store = await tempStore(t);
  const blob = randomBytes(CHUNK_BYTES * 3 + 1000);
  const digest = sha(blob);
  const peer = source('peer a', 'peer', blob, (o, b) => {
    if (o === CHUNK_BYTES) b[10] = (b[10] ?? 0) ^ 0xff;
    return b;
  });
  const manager = source('manager', 'manager', blob);
  const got = { peer: 0, manager: 0 };
  const bad: string[] = [];
  const r = await fetchBlob({
    store,
    digest,
    size: blob.length,
    hashes: hashesOf(blob),
    sources: [peer, manager],
    onChunk: (s, n) => (got[s.kind] += n),
    onBadSource: (_s, why) => bad.push(why),
  });
  assert.equal(r, 'stored');
  assert.deepEqual(await fs.readFile(store.pathOf(digest)), blob);
  assert.equal(bad.length, 1);
  assert.match(bad[0] ?? '', /chunk 1 .* does not match its hash/);
  assert.ok(got.peer >= CHUNK_BYTES, 'the first chunk came from the peer');
  assert.ok(
    manager.reads.includes(CHUNK_BYTES),
    'the corrupt chunk was fetched again from the manager',
  );
});

test('a fetch cut short resumes from the bytes on disk and asks for no chunk twice', async (t) => {
  const store = await tempStore(t);
  const blob = randomBytes(CHUNK_BYTES * 4);
  const digest = sha(blob);
  const hashes = hashesOf(blob);
  let served = 0;
  const flaky: BlobSource = {
    name: 'manager',
    kind: 'manager',
    read: (_d, offset, length) => {
      if (++served > 2) return Promise.reject(new Error('connection lost'));
      return Promise.resolve(blob.subarray(offset, offset + length));
    },
  };
  await assert.rejects(
    fetchBlob({ store, digest, size: blob.length, hashes, sources: [flaky], window: 1 }),
    (e: unknown) => e instanceof FetchError && /connection lost/.test(e.message),
  );
  assert.equal(await store.uploadedBytes(digest), 2 * CHUNK_BYTES, 'two verified chunks kept');
  const again = source('manager', 'manager', blob);
  await fetchBlob({ store, digest, size: blob.length, hashes, sources: [again] });
  assert.deepEqual(again.reads, [2 * CHUNK_BYTES, 3 * CHUNK_BYTES]);
  assert.deepEqual(await fs.readFile(store.pathOf(digest)), blob);
});

test('a partial write inside a chunk (a full disk) resumes mid-chunk', async (t) => {
  const store = await tempStore(t);
  const blob = randomBytes(CHUNK_BYTES * 2);
  const digest = sha(blob);
  await store.writeChunk(digest, 0, blob.subarray(0, 1234));
  await fetchBlob({
    store,
    digest,
    size: blob.length,
    hashes: hashesOf(blob),
    sources: [source('m', 'manager', blob)],
  });
  assert.deepEqual(await fs.readFile(store.pathOf(digest)), blob);
});

test('when every source sends bad bytes the fetch fails with each reason, and nothing is stored', async (t) => {
  const store = await tempStore(t);
  const blob = randomBytes(1000);
  const digest = sha(blob);
  const bad = source('manager', 'manager', blob, (_o, b) => b.subarray(0, 10));
  await assert.rejects(
    fetchBlob({ store, digest, size: blob.length, hashes: hashesOf(blob), sources: [bad] }),
    /could not fetch chunk 0 .* does not match its hash \(10 bytes\)/,
  );
  assert.equal(await store.has(digest), false);
});

test('a chunk kept on disk that was damaged since is cut back and fetched again, not the whole blob', async (t) => {
  const store = await tempStore(t);
  const blob = randomBytes(CHUNK_BYTES * 5);
  const digest = sha(blob);
  await store.writeChunk(digest, 0, blob.subarray(0, 4 * CHUNK_BYTES));
  const file = path.join(path.dirname(path.dirname(store.pathOf(digest))), 'uploads');
  const [partial] = await fs.readdir(file);
  assert.ok(partial);
  const handle = await fs.open(path.join(file, partial), 'r+');
  await handle.write(
    Buffer.from([(blob[2 * CHUNK_BYTES + 7] ?? 0) ^ 0xff]),
    0,
    1,
    2 * CHUNK_BYTES + 7,
  );
  await handle.close();
  const manager = source('manager', 'manager', blob);
  const damaged: number[][] = [];
  await fetchBlob({
    store,
    digest,
    size: blob.length,
    hashes: hashesOf(blob),
    sources: [manager],
    onDamaged: (chunk, kept, had) => damaged.push([chunk, kept, had]),
  });
  assert.deepEqual(damaged, [[2, 2 * CHUNK_BYTES, 4 * CHUNK_BYTES]]);
  assert.deepEqual(
    manager.reads,
    [2, 3, 4].map((i) => i * CHUNK_BYTES),
    'from the damaged chunk on',
  );
  assert.deepEqual(await fs.readFile(store.pathOf(digest)), blob);
});
