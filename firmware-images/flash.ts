// Writes an image (plain, .xz or .zst, decompressed on the fly) to a device or a file, then reads it back to verify it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { checkTarget, type FlashTarget } from './device.js';
import { runTool } from './tools.js';

export interface FlashOptions {
  readonly image: string;
  readonly target: string;
  readonly yesIAmSure: boolean;
  /** Called after each chunk written, and with phase "verify" while reading back. */
  readonly onProgress?: (phase: 'write' | 'verify', bytes: number, total: number | null) => void;
  /**
   * Set in tests: any block device is refused after the safety checks, so no code path can
   * write to one (the checks' refusals are what such a test asserts).
   */
  readonly filesOnly?: boolean;
}

export interface FlashResult {
  readonly target: FlashTarget;
  readonly bytes: number;
  readonly sha256: string;
}

type Compression = 'xz' | 'zstd' | null;

const CHUNK = 4 * 1024 * 1024;

export function compressionOf(image: string): Compression {
  if (image.endsWith('.xz')) return 'xz';
  if (image.endsWith('.zst') || image.endsWith('.zstd')) return 'zstd';
  return null;
}

/**
 * Flashes `image` to `target`: checks the target (see device.ts), tests a compressed image
 * whole before writing a byte (a truncated download is refused, not half written), streams,
 * fsyncs, and compares the sha256 of what it read back with that of what it wrote.
 */
export async function flashImage(opts: FlashOptions): Promise<FlashResult> {
  const target = await checkTarget(opts.target, opts.yesIAmSure);
  const compression = compressionOf(opts.image);
  const info = await stat(opts.image).catch(() => null);
  if (!info?.isFile()) throw new Error(`${opts.image} is not an image file`);
  if (target.kind === 'file' && (await sameFile(opts.image, target.path))) {
    throw new Error(`${opts.target} is the image itself`);
  }
  if (compression !== null) await testCompressed(opts.image, compression);
  const total = compression === null ? info.size : null;
  const capacity = target.kind === 'block' ? target.capacity : null;
  if (total !== null && capacity !== null && total > capacity) {
    throw new Error(
      `${opts.image} (${total} bytes) is larger than ${target.path} (${capacity} bytes)`,
    );
  }
  if (target.kind === 'block' && opts.filesOnly) {
    throw new Error(`${target.path} is a block device, and this run writes only to files`);
  }
  const out = await openTarget(target);
  let written: { bytes: number; sha256: string };
  try {
    written = await writeAll(opts, compression, out, total, capacity);
    await out.sync();
  } finally {
    await out.close();
  }
  // Read back from the device, not from the page cache the writes went through.
  if (target.kind === 'block')
    await runTool('flushing the device cache', 'blockdev', ['--flushbufs', target.path]);
  const back = await hashRange(target.path, written.bytes, (n) =>
    opts.onProgress?.('verify', n, written.bytes),
  );
  if (back !== written.sha256) {
    throw new Error(
      `verification failed: ${target.path} does not read back what was written (sha256 ${back}, expected ${written.sha256})`,
    );
  }
  return { target, ...written };
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)]);
  return sa.dev === sb.dev && sa.ino === sb.ino;
}

/** A block device opened exclusively (Linux refuses O_EXCL while it is mounted); a file truncated. */
function openTarget(target: FlashTarget): Promise<FileHandle> {
  if (target.kind === 'file') return open(target.path, 'w');
  return open(target.path, constants.O_WRONLY | constants.O_EXCL);
}

async function writeAll(
  opts: FlashOptions,
  compression: Compression,
  out: FileHandle,
  total: number | null,
  capacity: number | null,
): Promise<{ bytes: number; sha256: string }> {
  const source = openSource(opts.image, compression);
  const hash = createHash('sha256');
  let at = 0;
  try {
    for await (const chunk of source.stream) {
      if (capacity !== null && at + chunk.length > capacity) {
        throw new Error(
          `${opts.image} is larger than ${opts.target} (${capacity} bytes); stopped after ${at} bytes`,
        );
      }
      hash.update(chunk);
      let done = 0;
      while (done < chunk.length) {
        done += (await out.write(chunk, done, chunk.length - done, at + done)).bytesWritten;
      }
      at += chunk.length;
      opts.onProgress?.('write', at, total);
    }
    await source.finished();
  } finally {
    source.stop();
  }
  return { bytes: at, sha256: hash.digest('hex') };
}

interface Source {
  readonly stream: AsyncIterable<Buffer>;
  /** Resolves once the decompressor exited cleanly; rejects with its message otherwise. */
  finished(): Promise<void>;
  stop(): void;
}

function openSource(image: string, compression: Compression): Source {
  if (compression === null) {
    const stream = createReadStream(image, { highWaterMark: CHUNK });
    return { stream, finished: async () => undefined, stop: () => stream.destroy() };
  }
  const child: ChildProcessWithoutNullStreams = spawn(compression, ['-dc', image], {
    stdio: 'pipe',
  });
  child.stdin.end();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exit = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`${compression} could not run: ${e.message}`)));
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new Error(`${image}: ${compression} failed: ${stderr.trim() || `exit code ${code}`}`),
          ),
    );
  });
  exit.catch(() => undefined);
  return { stream: child.stdout, finished: () => exit, stop: () => child.kill() };
}

/** `xz -t` / `zstd -t`: a corrupt or truncated archive is refused before anything is written. */
async function testCompressed(image: string, compression: 'xz' | 'zstd'): Promise<void> {
  try {
    await runTool(`checking ${image}`, compression, ['-tq', image]);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`${image} is corrupt or truncated, nothing was written (${why})`);
  }
}

/** sha256 of the first `length` bytes of `file`. */
async function hashRange(
  file: string,
  length: number,
  progress: (n: number) => void,
): Promise<string> {
  const hash = createHash('sha256');
  if (length === 0) return hash.digest('hex');
  let n = 0;
  for await (const chunk of createReadStream(file, {
    start: 0,
    end: length - 1,
    highWaterMark: CHUNK,
  }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    n += chunk.length;
    progress(n);
  }
  if (n !== length) throw new Error(`verification failed: read back ${n} of ${length} bytes`);
  return hash.digest('hex');
}
