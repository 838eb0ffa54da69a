// Reads and writes files on an image's FAT boot partition in place, with mtools at the partition's byte offset.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SECTOR } from './layout.js';
import { fatBootPartition } from './mbr.js';
import { ImageStepError, runTool } from './tools.js';

/** mtools' name for the FAT file system at `offset` bytes into `image`. */
const drive = (image: string, offset: number): string => `${image}@@${offset}`;

async function bootDrive(image: string): Promise<string> {
  const boot = await fatBootPartition(image);
  return drive(image, boot.start * SECTOR);
}

/** The boot partition's file paths ("::/config.txt", "::/overlays/x.dtbo"), recursively. */
export async function listBootFiles(image: string): Promise<string[]> {
  const d = await bootDrive(image);
  const r = await runTool('listing the boot partition', 'mdir', ['-b', '-s', '-i', d, '::/']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('::/'))
    .map((l) => l.slice('::/'.length));
}

/** A file of the boot partition as text, or null when it is not there. */
export async function readBootFile(image: string, name: string): Promise<string | null> {
  const d = await bootDrive(image);
  if (!(await listBootFiles(image)).some((f) => f.toLowerCase() === name.toLowerCase())) {
    return null;
  }
  return (
    await runTool(`reading ${name} from the boot partition`, 'mtype', ['-i', d, `::/${name}`])
  ).stdout;
}

/** Writes `text` as `name` at the root of the boot partition, replacing any file of that name. */
export async function writeBootFile(image: string, name: string, text: string): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'fleet-boot-'));
  try {
    const local = path.join(work, name);
    await writeFile(local, text, { mode: 0o600 });
    await copyToBoot(image, local, name);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The free space of the boot partition and its cluster size, which every file is rounded up to. */
export interface BootSpace {
  readonly freeBytes: number;
  readonly clusterBytes: number;
}

export async function bootSpace(image: string): Promise<BootSpace> {
  const d = await bootDrive(image);
  const info = await runTool("reading the boot partition's geometry", 'minfo', ['-i', d, '::']);
  const listing = await runTool("reading the boot partition's free space", 'mdir', [
    '-i',
    d,
    '::/',
  ]);
  return parseBootSpace(info.stdout, listing.stdout);
}

/** Free bytes from mdir's last line ("41 281 024 bytes free"), the cluster size from minfo. */
export function parseBootSpace(minfo: string, mdir: string): BootSpace {
  const sector = /sector size: (\d+) bytes/.exec(minfo);
  const cluster = /cluster size: (\d+) sectors/.exec(minfo);
  const free = /([\d ,.]+) bytes free/.exec(mdir);
  if (!sector?.[1] || !cluster?.[1] || !free?.[1]) {
    throw new ImageStepError("reading the boot partition's free space", 'unexpected mtools output');
  }
  return {
    freeBytes: Number(free[1].replace(/[^\d]/g, '')),
    clusterBytes: Number(sector[1]) * Number(cluster[1]),
  };
}

/** Bytes a folder of the boot partition takes (its clusters, mdu), 0 when it is not there. */
export async function bootTreeBytes(image: string, dir: string): Promise<number> {
  if (!(await bootPathExists(image, dir))) return 0;
  const d = await bootDrive(image);
  const { clusterBytes } = await bootSpace(image);
  const r = await runTool(`measuring ${dir} on the boot partition`, 'mdu', [
    '-s',
    '-i',
    d,
    `::/${dir}`,
  ]);
  const clusters = Number(/\s(\d+)\s*$/.exec(r.stdout.trim())?.[1] ?? NaN);
  if (!Number.isFinite(clusters)) {
    throw new ImageStepError(`measuring ${dir} on the boot partition`, 'unexpected mdu output');
  }
  return clusters * clusterBytes;
}

/** True when `name` (a file or folder, "preload/x.tar") is on the boot partition. */
export async function bootPathExists(image: string, name: string): Promise<boolean> {
  const want = name.toLowerCase().replace(/\/+$/, '');
  return (await listBootFiles(image)).some((f) => f.toLowerCase().replace(/\/+$/, '') === want);
}

/** Copies the local file `local` to `name` ("preload/x.tar") on the boot partition, replacing it. */
export async function copyToBoot(image: string, local: string, name: string): Promise<void> {
  const d = await bootDrive(image);
  // -o overwrites without asking; -D o does the same for a clash of short names.
  await runTool(`copying ${name} to the boot partition`, 'mcopy', [
    '-o',
    '-D',
    'o',
    '-i',
    d,
    local,
    `::/${name}`,
  ]);
}

/** Makes the folder `name` on the boot partition. */
export async function makeBootDir(image: string, name: string): Promise<void> {
  const d = await bootDrive(image);
  await runTool(`making ${name} on the boot partition`, 'mmd', ['-i', d, `::/${name}`]);
}

/** Renames (moves) a file or folder on the boot partition. */
export async function moveBootPath(image: string, from: string, to: string): Promise<void> {
  const d = await bootDrive(image);
  await runTool(`renaming ${from} to ${to} on the boot partition`, 'mmove', [
    '-D',
    'o',
    '-i',
    d,
    `::/${from}`,
    `::/${to}`,
  ]);
}

/** Removes a file or folder (with its content) from the boot partition; nothing there is fine. */
export async function removeBootPath(image: string, name: string): Promise<void> {
  if (!(await bootPathExists(image, name))) return;
  const d = await bootDrive(image);
  await runTool(`removing ${name} from the boot partition`, 'mdeltree', ['-i', d, `::/${name}`]);
}
