// The sha256 of every fixed-size piece of a stored blob, so a receiver can check each chunk from any source before writing it.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import type { BlobStore } from './blob-store.js';

/** 32 bytes per chunk, in order; cached beside the blobs after the first computation. */
export async function chunkHashes(
  store: BlobStore,
  digest: string,
  chunkBytes: number,
): Promise<Buffer> {
  const file = store.pathOf(digest);
  const cache = path.join(
    path.dirname(path.dirname(file)),
    'chunks',
    `${chunkBytes}`,
    path.basename(file),
  );
  const size = await store.size(digest);
  const expected = Math.ceil(size / chunkBytes) * 32;
  const cached = await fs.readFile(cache).catch(() => null);
  if (cached && cached.length === expected) return cached;
  const out = Buffer.alloc(expected);
  const handle = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(chunkBytes);
    for (let i = 0, offset = 0; offset < size; i++, offset += chunkBytes) {
      let got = 0;
      while (got < chunkBytes) {
        const { bytesRead } = await handle.read(buf, got, chunkBytes - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      createHash('sha256')
        .update(buf.subarray(0, got))
        .digest()
        .copy(out, i * 32);
    }
  } finally {
    await handle.close();
  }
  await fs.mkdir(path.dirname(cache), { recursive: true });
  await writeFileAtomic(cache, out);
  return out;
}

/** Whether `bytes`, the chunk at `index`, hash to what the list says. */
export function chunkMatches(hashes: Buffer, index: number, bytes: Uint8Array): boolean {
  const want = hashes.subarray(index * 32, index * 32 + 32);
  return want.length === 32 && createHash('sha256').update(bytes).digest().equals(want);
}
