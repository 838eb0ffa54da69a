// Assembles a disk image from a boot directory and a root directory, entirely in files: no loop device, no mount.
import { createReadStream } from 'node:fs';
import { lstat, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { MIB, bytesOf, planLayout, sfdiskScript, withHeadroom, type Layout } from './layout.js';
import { BOOT_LABEL, ROOT_LABEL } from './root-files.js';
import { ImageStepError, runTool } from './tools.js';

export interface AssembleOptions {
  /** Files for the FAT boot partition (firmware, kernel, config.txt, fleet.json …). */
  readonly bootDir: string;
  /** The root file system's tree. */
  readonly rootDir: string;
  readonly out: string;
  /** The smallest boot partition (the board profile's bootPartitionMiB). */
  readonly minBootMiB: number;
  readonly bootLabel?: string;
  readonly rootLabel?: string;
}

export interface AssembledImage {
  readonly path: string;
  readonly layout: Layout;
  readonly bytes: number;
}

// FAT32 needs at least 65525 clusters; mkfs.vfat makes them of one sector under 260 MiB.
const MIN_FAT32_BYTES = 36 * MIB;
const BLOCK = 4096;

/**
 * Builds `out`: an MBR table, a FAT32 boot partition and an ext4 root, written to
 * `out.partial` and renamed at the end, so a failure (a tool, a full disk) leaves nothing
 * under `out`. The partition files are made in a temporary directory beside `out`.
 */
export async function assembleImage(opts: AssembleOptions): Promise<AssembledImage> {
  const bootBytes = withHeadroom(await treeBytes(opts.bootDir), {
    ratio: 0.2,
    extraBytes: 4 * MIB,
    minBytes: Math.max(MIN_FAT32_BYTES, opts.minBootMiB * MIB),
  });
  // ext4's own tables, its journal and the first boot's writes; the board grows the root
  // partition to fill its card before anything else runs.
  const rootBytes = withHeadroom(await treeBytes(opts.rootDir), {
    ratio: 0.03,
    extraBytes: 24 * MIB,
    minBytes: 32 * MIB,
  });
  const layout = planLayout(bootBytes, rootBytes);
  const partial = `${opts.out}.partial`;
  const work = await mkdtemp(path.join(path.dirname(path.resolve(opts.out)), '.fleet-image-'));
  try {
    const bootFile = path.join(work, 'boot.vfat');
    const rootFile = path.join(work, 'root.ext4');
    await makeBoot(bootFile, opts.bootDir, bytesOf(layout.boot).length, opts.bootLabel);
    await makeRoot(rootFile, opts.rootDir, bytesOf(layout.root).length, opts.rootLabel);
    await step('creating the image file', () => emptyFile(partial, layout.totalSectors * 512));
    await runTool(
      'writing the partition table',
      'sfdisk',
      ['--no-reread', '--no-tell-kernel', '-q', partial],
      sfdiskScript(layout),
    );
    await step('copying the boot partition into the image', () =>
      copyInto(bootFile, partial, bytesOf(layout.boot).offset),
    );
    await step('copying the root partition into the image', () =>
      copyInto(rootFile, partial, bytesOf(layout.root).offset),
    );
    await step('renaming the finished image', () => rename(partial, opts.out));
    return { path: opts.out, layout, bytes: layout.totalSectors * 512 };
  } catch (e) {
    await rm(partial, { force: true });
    throw e;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A FAT32 file system of `bytes` in `file`, holding the tree of `dir`. */
async function makeBoot(
  file: string,
  dir: string,
  bytes: number,
  label = BOOT_LABEL,
): Promise<void> {
  // -C makes the file; its size is given in KiB.
  await runTool('making the boot file system', 'mkfs.vfat', [
    '-F',
    '32',
    '-n',
    label,
    '-C',
    file,
    String(bytes / 1024),
  ]);
  const entries = (await readdir(dir)).map((n) => path.join(dir, n));
  if (entries.length === 0) return;
  await runTool('copying files to the boot partition', 'mcopy', [
    '-s',
    '-p',
    '-m',
    '-i',
    file,
    ...entries,
    '::/',
  ]);
}

/** An ext4 file system of `bytes` in `file`, populated from `dir` (owned by root whoever builds it). */
async function makeRoot(
  file: string,
  dir: string,
  bytes: number,
  label = ROOT_LABEL,
): Promise<void> {
  await step('creating the root file', () => emptyFile(file, bytes));
  await runTool('making the root file system', 'mkfs.ext4', [
    '-q',
    '-F',
    '-L',
    label,
    '-d',
    dir,
    '-E',
    'root_owner=0:0',
    '-b',
    String(BLOCK),
    file,
  ]);
}

/** A new file of `bytes` zeros (sparse), replacing any file of that name. */
async function emptyFile(file: string, bytes: number): Promise<void> {
  const h = await open(file, 'w');
  try {
    await h.truncate(bytes);
  } finally {
    await h.close();
  }
}

/** Copies `from` into `to` at `offset`, skipping all-zero blocks so the image stays sparse. */
async function copyInto(from: string, to: string, offset: number): Promise<void> {
  const target = await open(to, 'r+');
  try {
    let at = offset;
    for await (const chunk of createReadStream(from, {
      highWaterMark: MIB,
    }) as AsyncIterable<Buffer>) {
      if (!isZero(chunk)) {
        let done = 0;
        while (done < chunk.length) {
          done += (await target.write(chunk, done, chunk.length - done, at + done)).bytesWritten;
        }
      }
      at += chunk.length;
    }
    await target.sync();
  } finally {
    await target.close();
  }
}

const isZero = (b: Buffer): boolean => {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
};

/** Bytes a tree takes: each file rounded up to a block, and a block per directory and link. */
export async function treeBytes(dir: string): Promise<number> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory())
    throw new ImageStepError('measuring the content', `${dir} is not a directory`);
  let total = BLOCK;
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    const s = await lstat(p);
    if (s.isDirectory()) total += await treeBytes(p);
    else total += Math.ceil(Math.max(s.size, 1) / BLOCK) * BLOCK;
  }
  return total;
}

/** Runs one step of the build; a failure names the step (a full disk among them). */
async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ImageStepError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOSPC' ? 'no space left on the device' : (err.message ?? String(e));
    throw new ImageStepError(name, why);
  }
}
