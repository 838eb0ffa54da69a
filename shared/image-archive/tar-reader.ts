// Streams a tar archive once, hashing every file's bytes as they pass and keeping only small files.
import { createHash, type Hash } from 'node:crypto';
import { ImageArchiveError } from './errors.js';
import {
  BLOCK,
  isZeroBlock,
  padding,
  parseHeader,
  parsePaxRecords,
  type TarHeader,
} from './tar-header.js';

/** A regular file of the archive, named by its path inside it. */
export interface TarFile {
  name: string;
  size: number;
  /** `sha256:<hex>` of the bytes as stored. */
  digest: string;
  /** Where its bytes start in the archive, to read them again without scanning. */
  offset: number;
  /** The first bytes (up to 4), enough to tell a gzip or zstd layer from a plain tar. */
  head: Buffer;
  /** The whole content, only for files the caller asked to keep. */
  data?: Buffer;
}

/**
 * Decides from a file's name and size whether its bytes are kept (manifests, configs). Only
 * files whose first byte opens a JSON object or array are kept, whatever this answers.
 */
export type KeepFile = (name: string, size: number) => boolean;

/** Metadata entries (pax, GNU long names) are read whole; more than this is not an image. */
const MAX_META_BYTES = 1024 * 1024;

/** Reads the archive to its end; never holds more than one chunk of a file not kept. */
export async function scanTar(
  input: AsyncIterable<Buffer | Uint8Array | string>,
  keep: KeepFile,
): Promise<TarFile[]> {
  const scanner = new TarScanner(keep);
  for await (const chunk of input) {
    if (typeof chunk === 'string') throw new Error('scanTar needs a byte stream, not text');
    scanner.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return scanner.finish();
}

/** Normalises `./a/b` and `a//b` to `a/b`, as docker save's and tar(1)'s names differ. */
export function normaliseName(name: string): string {
  return name
    .split('/')
    .filter((p) => p !== '' && p !== '.')
    .join('/');
}

interface OpenEntry {
  header: TarHeader;
  offset: number;
  remaining: number;
  hash: Hash | null;
  head: Buffer[];
  kept: Buffer[] | null;
}

class TarScanner {
  private readonly files: TarFile[] = [];
  private headerBytes: Buffer[] = [];
  private headerLength = 0;
  private entry: OpenEntry | null = null;
  private skip = 0;
  private offset = 0;
  private ended = false;
  private nextName: string | null = null;
  private nextSize: number | null = null;

  constructor(private readonly keep: KeepFile) {}

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos);
        this.skip -= n;
        pos += n;
      } else if (this.entry !== null) {
        pos += this.feedBody(chunk.subarray(pos));
      } else {
        const n = Math.min(BLOCK - this.headerLength, chunk.length - pos);
        this.headerBytes.push(chunk.subarray(pos, pos + n));
        this.headerLength += n;
        pos += n;
        if (this.headerLength === BLOCK) {
          this.onHeaderBlock(Buffer.concat(this.headerBytes), this.offset + pos - BLOCK);
        }
      }
    }
    this.offset += chunk.length;
  }

  finish(): TarFile[] {
    if (this.ended) return this.files;
    if (this.entry !== null) {
      const { header, remaining } = this.entry;
      throw new ImageArchiveError(
        'truncated',
        `truncated archive: ${header.name} should hold ${header.size} bytes but the archive ends after ${header.size - remaining}`,
      );
    }
    if (this.offset === 0) throw new ImageArchiveError('not-tar', 'not a tar archive: it is empty');
    throw new ImageArchiveError(
      'truncated',
      `truncated archive: it ends after ${this.offset} bytes without the end-of-archive marker`,
    );
  }

  /** `at` is the header's position in the archive, for error messages. */
  private onHeaderBlock(block: Buffer, at: number): void {
    this.headerBytes = [];
    this.headerLength = 0;
    if (isZeroBlock(block)) {
      // One zero block ends the archive for our purposes; tar writes two, some writers one.
      this.ended = true;
      return;
    }
    const header = parseHeader(block, at);
    if (header.kind === 'file') {
      header.name = normaliseName(this.nextName ?? header.name);
      header.size = this.nextSize ?? header.size;
      this.nextName = null;
      this.nextSize = null;
    }
    if (header.kind !== 'file' && header.kind !== 'other' && header.kind !== 'directory') {
      if (header.size > MAX_META_BYTES) {
        throw new ImageArchiveError('not-tar', 'not a tar archive: a metadata entry is too large');
      }
    }
    this.open(header, at + BLOCK);
  }

  private open(header: TarHeader, offset: number): void {
    const isFile = header.kind === 'file';
    const isMeta = header.kind === 'pax' || header.kind === 'gnu-long-name';
    this.entry = {
      header,
      offset,
      remaining: header.size,
      hash: isFile ? createHash('sha256') : null,
      head: [],
      kept: isMeta || (isFile && this.keep(header.name, header.size)) ? [] : null,
    };
    if (header.size === 0) this.close();
  }

  /** Takes as much of `bytes` as the open entry still needs; returns how much it took. */
  private feedBody(bytes: Buffer): number {
    const entry = this.entry;
    if (entry === null) return 0;
    const n = Math.min(entry.remaining, bytes.length);
    const part = bytes.subarray(0, n);
    entry.hash?.update(part);
    if (entry.head.length === 0 && n > 0) {
      entry.head.push(Buffer.from(part.subarray(0, 4)));
      // Only JSON is kept: a layer that happens to be small is dropped at its first byte.
      if (entry.hash !== null && part[0] !== 0x7b && part[0] !== 0x5b) entry.kept = null;
    }
    entry.kept?.push(Buffer.from(part));
    entry.remaining -= n;
    if (entry.remaining === 0) this.close();
    return n;
  }

  private close(): void {
    const entry = this.entry;
    if (entry === null) return;
    this.entry = null;
    this.skip = padding(entry.header.size);
    const { header } = entry;
    const body = entry.kept === null ? undefined : Buffer.concat(entry.kept);
    if (header.kind === 'gnu-long-name' && body !== undefined) {
      this.nextName = body.toString('utf8').replace(/\0+$/, '');
    } else if (header.kind === 'pax' && body !== undefined) {
      const records = parsePaxRecords(body);
      this.nextName = records.get('path') ?? this.nextName;
      const size = records.get('size');
      if (size !== undefined) this.nextSize = Number.parseInt(size, 10);
    } else if (header.kind === 'file' && entry.hash !== null) {
      this.files.push({
        name: header.name,
        size: header.size,
        digest: `sha256:${entry.hash.digest('hex')}`,
        offset: entry.offset,
        head: entry.head[0] ?? Buffer.alloc(0),
        ...(body === undefined ? {} : { data: body }),
      });
    }
  }
}
