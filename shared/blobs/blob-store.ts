// Content-addressed blobs on a manager's disk: resumable chunked uploads, verified before they are stored.
import { createHash } from 'node:crypto';
import { promises as fs, type ReadStream } from 'node:fs';
import path from 'node:path';
import { fsyncDir } from '../atomic-file.js';
import { BlobStoreError } from './blob-errors.js';

export { BlobStoreError, isBlobStoreError } from './blob-errors.js';

const DIGEST = /^sha256:([0-9a-f]{64})$/;

export interface StoredBlob {
  digest: string;
  size: number;
}

/** What complete() did: stored the upload, or dropped it because the blob was already there. */
export type CompleteResult = 'stored' | 'deduplicated';

/**
 * Blobs live in `<dataDir>/blobs/sha256/<hex>`; an upload grows in
 * `<dataDir>/blobs/uploads/<hex>.partial` until complete() verifies and renames it. Nothing is
 * kept in memory between calls, so a store opened again after a restart resumes every upload.
 */
export class BlobStore {
  private readonly blobDir: string;
  private readonly uploadDir: string;
  /** One operation at a time per digest: two chunks racing would both see the same end. */
  private readonly queues = new Map<string, Promise<unknown>>();

  private constructor(dataDir: string) {
    this.blobDir = path.join(dataDir, 'blobs', 'sha256');
    this.uploadDir = path.join(dataDir, 'blobs', 'uploads');
  }

  static async open(dataDir: string): Promise<BlobStore> {
    const store = new BlobStore(dataDir);
    await fs.mkdir(store.blobDir, { recursive: true });
    await fs.mkdir(store.uploadDir, { recursive: true });
    return store;
  }

  async has(digest: string): Promise<boolean> {
    return (await statSize(this.blobFile(digest))) !== null;
  }

  async size(digest: string): Promise<number> {
    const size = await statSize(this.blobFile(digest));
    if (size === null) throw notFound(digest);
    return size;
  }

  /** A read stream of a stored blob; fails with not-found before returning when it is absent. */
  async open(digest: string): Promise<ReadStream> {
    const file = this.blobFile(digest);
    const handle = await fs.open(file, 'r').catch((e: unknown) => {
      throw isMissing(e) ? notFound(digest) : e;
    });
    return handle.createReadStream({ highWaterMark: 256 * 1024 }); // closes the handle at its end
  }

  /** Up to `length` bytes of a stored blob from `offset` (fewer at its end, none past it). */
  async readRange(digest: string, offset: number, length: number): Promise<Buffer> {
    const handle = await fs.open(this.blobFile(digest), 'r').catch((e: unknown) => {
      throw isMissing(e) ? notFound(digest) : e;
    });
    try {
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await handle.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    } finally {
      await handle.close();
    }
  }

  /**
   * Like readRange, but an upload under way serves the bytes it already holds (a board still
   * downloading a layer passes on what it has checked to its neighbours). A range past them
   * fails with not-yet; a blob neither stored nor under way with not-found.
   */
  async readAvailable(digest: string, offset: number, length: number): Promise<Buffer> {
    try {
      return await this.readRange(digest, offset, length);
    } catch (e) {
      if (!(e instanceof BlobStoreError) || e.problem !== 'not-found') throw e;
    }
    const held = await statSize(this.partialFile(digest));
    if (held === null) {
      // It may have been completed (renamed into place) between the two reads.
      return this.readRange(digest, offset, length);
    }
    if (offset + length > held) {
      throw new BlobStoreError('not-yet', `${digest}: ${held} bytes here so far`, held);
    }
    const handle = await fs.open(this.partialFile(digest), 'r').catch(async (e: unknown) => {
      if (isMissing(e)) return null;
      throw e;
    });
    if (handle === null) return this.readRange(digest, offset, length);
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  /** The file a stored blob lives in, for a reader that streams it whole (say, into a tar). */
  pathOf(digest: string): string {
    return this.blobFile(digest);
  }

  /** Removes a stored blob and any upload of it; false when there was neither. */
  async remove(digest: string): Promise<boolean> {
    return this.serial(digest, async () => {
      const blob = await rmIfPresent(this.blobFile(digest));
      const partial = await rmIfPresent(this.partialFile(digest));
      return blob || partial;
    });
  }

  async list(): Promise<StoredBlob[]> {
    const names = (await fs.readdir(this.blobDir)).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
    const blobs: StoredBlob[] = [];
    for (const name of names) {
      const size = await statSize(path.join(this.blobDir, name));
      if (size !== null) blobs.push({ digest: `sha256:${name}`, size });
    }
    return blobs;
  }

  /** Bytes an upload holds so far: where the next chunk must start. 0 when none is under way. */
  async uploadedBytes(digest: string): Promise<number> {
    return (await statSize(this.partialFile(digest))) ?? 0;
  }

  /** Cuts an upload back to its first `bytes` (found damaged on resume); its new size. */
  async truncateUpload(digest: string, bytes: number): Promise<number> {
    const file = this.partialFile(digest);
    return this.serial(digest, async () => {
      const current = (await statSize(file)) ?? 0;
      if (current > bytes) await fs.truncate(file, bytes);
      return Math.min(current, bytes);
    });
  }

  /**
   * Appends `bytes` to the upload of `digest`; `offset` must equal uploadedBytes(). Returns the
   * upload's new size. A full disk keeps the bytes already written, so the client resumes there.
   */
  async writeChunk(digest: string, offset: number, bytes: Uint8Array): Promise<number> {
    const file = this.partialFile(digest);
    return this.serial(digest, async () => {
      const current = (await statSize(file)) ?? 0;
      if (offset !== current) {
        throw new BlobStoreError(
          'wrong-offset',
          `chunk at offset ${offset} refused for ${digest}: the upload holds ${current} bytes, resume at ${current}`,
          current,
        );
      }
      try {
        await appendAll(file, bytes);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        const kept = (await statSize(file)) ?? 0;
        throw new BlobStoreError(
          'disk-full',
          `disk full while storing ${digest}: ${kept} bytes kept, free space and resume at ${kept}`,
          kept,
        );
      }
      return current + bytes.length;
    });
  }

  /**
   * Verifies the upload's sha256 against `digest` and moves it into place (synced first, so a
   * power cut never leaves a stored blob with unwritten bytes). A mismatch removes the upload.
   */
  async complete(digest: string): Promise<CompleteResult> {
    const partial = this.partialFile(digest);
    const target = this.blobFile(digest);
    return this.serial(digest, async () => {
      const exists = (await statSize(target)) !== null;
      if (exists) {
        await rmIfPresent(partial);
        return 'deduplicated';
      }
      const handle = await fs.open(partial, 'r+').catch((e: unknown) => {
        throw isMissing(e) ? new BlobStoreError('not-found', `no upload of ${digest}`) : e;
      });
      try {
        const got = await sha256Of(handle);
        if (got.digest !== digest) {
          await rmIfPresent(partial);
          throw new BlobStoreError(
            'digest-mismatch',
            `upload of ${digest} does not match its digest: got ${got.digest} over ${got.size} bytes; the upload was removed`,
          );
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(partial, target);
      await fsyncDir(this.blobDir);
      return 'stored';
    });
  }

  private blobFile(digest: string): string {
    return path.join(this.blobDir, hexOf(digest));
  }

  private partialFile(digest: string): string {
    return path.join(this.uploadDir, `${hexOf(digest)}.partial`);
  }

  private serial<T>(digest: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(digest) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.queues.set(digest, settled);
    void settled.then(() => {
      if (this.queues.get(digest) === settled) this.queues.delete(digest);
    });
    return next;
  }
}

function hexOf(digest: string): string {
  const hex = DIGEST.exec(digest)?.[1];
  if (hex === undefined) {
    throw new BlobStoreError(
      'invalid-digest',
      `invalid digest ${JSON.stringify(digest)}: expected sha256:<64 hex digits>`,
    );
  }
  return hex;
}

async function appendAll(file: string, bytes: Uint8Array): Promise<void> {
  const handle = await fs.open(file, 'a', 0o600);
  try {
    // A nearly full disk takes part of a write and fails the next: loop until all is out.
    for (let done = 0; done < bytes.length;) {
      const { bytesWritten } = await handle.write(bytes, done, bytes.length - done);
      done += bytesWritten;
    }
  } finally {
    await handle.close();
  }
}

async function sha256Of(handle: fs.FileHandle): Promise<StoredBlob> {
  const hash = createHash('sha256');
  const buf = Buffer.alloc(256 * 1024);
  let size = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, buf.length, size);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    size += bytesRead;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

async function statSize(file: string): Promise<number | null> {
  try {
    return (await fs.stat(file)).size;
  } catch (e) {
    if (isMissing(e)) return null;
    throw e;
  }
}

async function rmIfPresent(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (e) {
    if (isMissing(e)) return false;
    throw e;
  }
}

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'ENOENT';
}

function notFound(digest: string): BlobStoreError {
  return new BlobStoreError('not-found', `blob ${digest} is not stored`);
}
