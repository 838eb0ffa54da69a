// Small tmpfs mounts for disk-full tests: mount, fill to the last byte, free, unmount.
import { execFile } from 'node:child_process';
import { closeSync, openSync, promises as fs, writeSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';

const run = promisify(execFile);

const inCI = (): boolean =>
  process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

/**
 * Mounts a tmpfs of `size` (e.g. "2m") on `dir`; the caller's t.after must unmount it (after
 * stopping whatever uses it). Returns false after skipping the test when mounting is not
 * allowed here (not root, no mount(8)); in CI that is a failure instead of a silent skip.
 */
export async function mountTmpfs(t: TestContext, dir: string, size: string): Promise<boolean> {
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
  } catch (e) {
    const why = `cannot mount a tmpfs for this test: ${e instanceof Error ? e.message : String(e)}`;
    if (inCI()) throw new Error(why);
    t.skip(why);
    return false;
  }
  return true;
}

/** Unmounts, waiting out a briefly busy mount; a lazy unmount is the last resort. */
export async function unmount(dir: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    try {
      await run('umount', [dir]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  await run('umount', ['-l', dir]);
}

/** Writes a filler file until the file system refuses more; returns its path. */
export function fillDisk(dir: string): string {
  const file = path.join(dir, 'filler');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const fd = openSync(file, 'w');
  try {
    // Large chunks first, then single bytes, so not even a partial page is left over.
    for (const size of [chunk.length, 1]) {
      for (let i = 0; i < 1_000_000; i++) {
        try {
          writeSync(fd, chunk, 0, size);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

export async function freeDisk(filler: string): Promise<void> {
  await fs.rm(filler, { force: true });
}
