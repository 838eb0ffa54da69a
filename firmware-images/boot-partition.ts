// Reads and writes files on an image's FAT boot partition in place, with mtools at the partition's byte offset.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SECTOR } from './layout.js';
import { fatBootPartition } from './mbr.js';
import { runTool } from './tools.js';

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
  const d = await bootDrive(image);
  const work = await mkdtemp(path.join(tmpdir(), 'fleet-boot-'));
  try {
    const local = path.join(work, name);
    await writeFile(local, text, { mode: 0o600 });
    // -o overwrites without asking; -D o does the same for a clash of short names.
    await runTool(`writing ${name} to the boot partition`, 'mcopy', [
      '-o',
      '-D',
      'o',
      '-i',
      d,
      local,
      `::/${name}`,
    ]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
