// The fill-disk fault: one file in the data dir that takes the filesystem down to a given free space, and its removal.
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Free space left when an order does not say: enough for the agent to write its state. */
export const DEFAULT_LEAVE_BYTES = 16 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;

export const fillFile = (dataDir: string): string => path.join(dataDir, 'chaos-fill');

/** Bytes free to an unprivileged writer on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return s.bavail * s.bsize;
}

/** The bytes to write so that `leaveBytes` stay free, or why nothing can be filled. */
export async function fillPlan(dir: string, leaveBytes: number): Promise<number | string> {
  const free = await freeBytes(dir);
  if (free <= leaveBytes)
    return `only ${free} bytes are free in ${dir}, not more than the ${leaveBytes} to leave`;
  return free - leaveBytes;
}

/** Writes `bytes` of zeros to the file, in chunks; stops early when the disk is full or `stopped()` says so. */
export async function writeFill(
  file: string,
  bytes: number,
  stopped: () => boolean = () => false,
): Promise<number> {
  const h = await fs.open(file, 'w', 0o600);
  const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, bytes));
  let written = 0;
  try {
    while (written < bytes && !stopped()) {
      const n = Math.min(chunk.length, bytes - written);
      const r = await h.write(chunk, 0, n);
      written += r.bytesWritten;
    }
    await h.sync();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    await h.close();
  }
  return written;
}

export async function removeFill(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}
