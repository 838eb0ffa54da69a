// The files of a scanned archive by name: JSON parsing, blob lookup and digest checks with clear errors.
import type { z } from 'zod';
import { ImageArchiveError } from './errors.js';
import type { TarFile } from './tar-reader.js';

/** Manifests, configs and indexes are small; larger files are never held in memory. */
export const MAX_JSON_BYTES = 1024 * 1024;

const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;
const DIGEST = /^sha256:([0-9a-f]{64})$/;

export class ArchiveFiles {
  private readonly byName = new Map<string, TarFile>();

  constructor(files: readonly TarFile[]) {
    for (const f of files) this.byName.set(f.name, f);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** A file the archive must have; `what` says who named it, for the error. */
  get(name: string, what: string): TarFile {
    const file = this.byName.get(name);
    if (file === undefined) {
      throw new ImageArchiveError('missing-blob', `${what} names a missing file: ${name}`);
    }
    return file;
  }

  /** Parses a kept file as JSON and checks its shape. */
  json<T>(name: string, schema: z.ZodType<T>, what: string): T {
    const file = this.get(name, what);
    if (file.data === undefined) {
      // The scanner keeps only small files that start like JSON.
      const why = file.size > MAX_JSON_BYTES ? `too large (${file.size} bytes)` : 'not JSON';
      throw new ImageArchiveError('bad-json', `${name} is ${why}, expected a ${what}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(file.data.toString('utf8'));
    } catch (e) {
      throw new ImageArchiveError('bad-json', `${name} is not valid JSON: ${(e as Error).message}`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue === undefined ? '' : ` at ${issue.path.join('.') || '(top)'}`;
      throw new ImageArchiveError(
        'bad-json',
        `${name} is not a valid ${what}${where}: ${issue?.message ?? 'unexpected shape'}`,
      );
    }
    return parsed.data;
  }

  /** Every `blobs/sha256/<hex>` file must hash to its name: the archive's own integrity check. */
  verifyNamedBlobs(): void {
    for (const file of this.byName.values()) {
      const named = BLOB_PATH.exec(file.name)?.[1];
      if (named !== undefined && file.digest !== `sha256:${named}`) {
        throw new ImageArchiveError(
          'digest-mismatch',
          `digest mismatch for ${file.name}: got ${file.digest}`,
        );
      }
    }
  }
}

/** The archive path of a blob named by digest (OCI layout). */
export function blobPath(digest: string): string {
  const hex = DIGEST.exec(digest)?.[1];
  if (hex === undefined) {
    throw new ImageArchiveError('bad-json', `unsupported digest ${digest}: only sha256 is read`);
  }
  return `blobs/sha256/${hex}`;
}

/** Tells a plain tar layer from a compressed one by its first bytes. */
export function layerCompression(head: Buffer): 'gzip' | 'zstd' | 'none' {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}
