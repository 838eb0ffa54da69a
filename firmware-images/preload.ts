// Preloaded container images on the boot partition: the space they need, and writing preload/ whole or not at all.
import { copyFile, link, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatPreloadIndex, PRELOAD_DIR, PRELOAD_INDEX } from '../shared/preload-index.js';
import type { PreloadEntry } from '../shared/preload-index.js';
import {
  bootSpace,
  bootTreeBytes,
  copyToBoot,
  makeBootDir,
  moveBootPath,
  removeBootPath,
} from './boot-partition.js';
import { MIB } from './layout.js';
import { ImageStepError } from './tools.js';

/** Images saved on this machine, ready to go into preload/: `dir` holds each entry's file. */
export interface SavedImages {
  readonly dir: string;
  readonly entries: readonly PreloadEntry[];
}

/** The folder the new preload/ is written under first, renamed when complete. */
const STAGING = `${PRELOAD_DIR}.new`;
/** Directory entries: "." and "..", and a short name plus long-name entries per file. */
const DIR_ENTRY = 32;
const ENTRIES_PER_FILE = 10;

const roundUp = (bytes: number, unit: number): number => Math.ceil(bytes / unit) * unit;

/** Bytes the preload folder takes on a FAT with `clusterBytes` clusters: every file rounded up. */
export function preloadBytesNeeded(
  sizes: readonly number[],
  indexBytes: number,
  clusterBytes: number,
): number {
  const files = sizes.reduce((sum, s) => sum + roundUp(Math.max(s, 1), clusterBytes), 0);
  const dir = roundUp(DIR_ENTRY * (2 + ENTRIES_PER_FILE * (sizes.length + 1)), clusterBytes);
  return files + roundUp(Math.max(indexBytes, 1), clusterBytes) + dir;
}

export interface PreloadFit {
  readonly fits: boolean;
  /** What preload/ needs. */
  readonly neededBytes: number;
  /** Free space once an existing preload/ is removed. */
  readonly availableBytes: number;
  /** The new folder fits beside the old one, so the old one can stay until the new is complete. */
  readonly besideOld: boolean;
}

export function preloadFit(
  neededBytes: number,
  freeBytes: number,
  oldPreloadBytes: number,
): PreloadFit {
  const availableBytes = freeBytes + oldPreloadBytes;
  return {
    fits: neededBytes <= availableBytes,
    neededBytes,
    availableBytes,
    besideOld: neededBytes <= freeBytes,
  };
}

/** FAT keeps a file's size in 32 bits. */
export const FAT_MAX_FILE = 2 ** 32 - 1;

/** Refuses an image whose tar FAT cannot hold (4 GiB or more). */
export function checkFatFileSizes(entries: readonly PreloadEntry[]): void {
  const big = entries.find((e) => e.size > FAT_MAX_FILE);
  if (big) {
    throw new ImageStepError(
      'preloading images',
      `${big.ref} is ${mib(big.size)} MiB saved; a file on the FAT boot partition is at most 4 GiB`,
    );
  }
}

const mib = (bytes: number): string => (bytes / MIB).toFixed(1);

/** The error for images that do not fit, saying how to make room. */
export function noRoomMessage(fit: PreloadFit): string {
  return (
    `the boot partition has ${mib(fit.availableBytes)} MiB free; the preloaded images need ` +
    `${mib(fit.neededBytes)} MiB; build the image with --preload (which sizes the boot ` +
    `partition to fit) or use a larger --boot-size`
  );
}

/**
 * Replaces preload/ on `image`'s boot partition with `saved` and its index.json. The space is
 * checked before anything is written; the files go into preload.new/ and the folder is renamed
 * when complete, so a board never sees half a set. A failure removes preload.new/.
 */
export async function writePreload(image: string, saved: SavedImages): Promise<PreloadFit> {
  checkFatFileSizes(saved.entries);
  const index = formatPreloadIndex(saved.entries);
  await removeBootPath(image, STAGING); // left over from an interrupted run
  const space = await bootSpace(image);
  const fit = preloadFit(
    preloadBytesNeeded(
      saved.entries.map((e) => e.size),
      Buffer.byteLength(index),
      space.clusterBytes,
    ),
    space.freeBytes,
    await bootTreeBytes(image, PRELOAD_DIR),
  );
  if (!fit.fits) throw new ImageStepError('preloading images', noRoomMessage(fit));
  // Only room for one set: the old one goes first (a failure then leaves none, not half).
  if (!fit.besideOld) await removeBootPath(image, PRELOAD_DIR);
  try {
    await makeBootDir(image, STAGING);
    for (const e of saved.entries) {
      await copyToBoot(image, path.join(saved.dir, e.file), `${STAGING}/${e.file}`);
    }
    const indexFile = path.join(saved.dir, PRELOAD_INDEX);
    await writeFile(indexFile, index);
    await copyToBoot(image, indexFile, `${STAGING}/${PRELOAD_INDEX}`);
    await removeBootPath(image, PRELOAD_DIR);
    await moveBootPath(image, STAGING, PRELOAD_DIR);
  } catch (e) {
    await removeBootPath(image, STAGING).catch(() => undefined);
    throw e;
  }
  return fit;
}

/**
 * Puts `saved` and its index.json into `bootDir/preload` before the image is assembled, so the
 * boot partition is sized to hold them. Files are linked where they can be, else copied.
 */
export async function stagePreload(saved: SavedImages, bootDir: string): Promise<void> {
  checkFatFileSizes(saved.entries);
  const to = path.join(bootDir, PRELOAD_DIR);
  try {
    await rm(to, { recursive: true, force: true });
    await mkdir(to);
    for (const e of saved.entries) {
      const from = path.join(saved.dir, e.file);
      await link(from, path.join(to, e.file)).catch(() => copyFile(from, path.join(to, e.file)));
    }
    await writeFile(path.join(to, PRELOAD_INDEX), formatPreloadIndex(saved.entries));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOSPC' ? 'no space left on the device' : err.message;
    throw new ImageStepError('adding the preloaded images to the boot files', why);
  }
}
