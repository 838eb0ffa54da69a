// Grows the root partition to the end of its disk and its ext4 file system to fill it (first boot on a larger card).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parseMountinfo, rootMount } from '../../shared/mountinfo.js';
import type { SetupStep } from './context.js';
import {
  ext4Bytes,
  fsShouldGrow,
  growDecision,
  sfdiskPartition,
  tableKind,
  type PartitionFacts,
} from './grow-plan.js';
import type { RunTool } from './run-tool.js';

/** The block devices of the root file system, and the facts the decision needs. */
export interface RootPartition {
  readonly facts: PartitionFacts;
  /** The whole disk, /dev/mmcblk0. */
  readonly disk: string;
  /** The partition, /dev/mmcblk0p2. */
  readonly partition: string;
  readonly fsType: string;
}

const readNumber = async (file: string): Promise<number> => {
  const n = Number((await fs.readFile(file, 'utf8')).trim());
  if (!Number.isSafeInteger(n)) throw new Error(`${file}: not a number`);
  return n;
};

/**
 * The root file system's partition, from /proc/self/mountinfo (its device number) and sysfs
 * (/sys/dev/block/MAJ:MIN is the partition's directory: its number, start and size; the
 * directory above is the disk's). A string says why there is nothing to grow.
 */
export async function findRootPartition(root: string): Promise<RootPartition | string> {
  const mountinfo = await fs.readFile(path.join(root, 'proc/self/mountinfo'), 'utf8');
  const mount = rootMount(parseMountinfo(mountinfo));
  if (!mount) return 'no mount of / in /proc/self/mountinfo';
  const real = await fs.realpath(path.join(root, 'sys/dev/block', mount.majMin)).catch(() => '');
  if (!real) return `the root file system (${mount.source}) is not on a block device`;
  const name = path.basename(real);
  const number = await readNumber(path.join(real, 'partition')).catch(() => 0);
  if (number <= 0) return `the root file system is on ${name}, which is not a partition`;
  const diskDir = path.dirname(real);
  const diskName = path.basename(diskDir);
  const otherStarts: number[] = [];
  for (const entry of await fs.readdir(diskDir)) {
    if (entry === name) continue;
    const start = await readNumber(path.join(diskDir, entry, 'start')).catch(() => null);
    const isPartition = await readNumber(path.join(diskDir, entry, 'partition')).catch(() => null);
    if (start !== null && isPartition !== null) otherStarts.push(start);
  }
  const disk = path.join(root, 'dev', diskName);
  const sector0 = new Uint8Array(512);
  const handle = await fs.open(disk, 'r');
  try {
    await handle.read(sector0, 0, 512, 0);
  } finally {
    await handle.close();
  }
  return {
    facts: {
      number,
      start: await readNumber(path.join(real, 'start')),
      size: await readNumber(path.join(real, 'size')),
      diskSectors: await readNumber(path.join(diskDir, 'size')),
      otherStarts,
      table: tableKind(sector0),
    },
    disk,
    partition: path.join(root, 'dev', name),
    fsType: mount.fsType,
  };
}

/** Moves partition `n`'s end to the end of the disk (`, +`), without asking the kernel to reread. */
export async function growPartitionTable(run: RunTool, disk: string, n: number): Promise<void> {
  await run('sfdisk', ['--no-reread', '--no-tell-kernel', '-N', String(n), disk], ', +\n');
}

/**
 * Tells the kernel the partition's new size while it is mounted: partx, else resizepart with
 * the size sfdisk now reads from the table.
 */
export async function tellKernel(run: RunTool, disk: string, n: number): Promise<void> {
  try {
    await run('partx', ['-u', '--nr', String(n), disk]);
  } catch (first) {
    const part = sfdiskPartition(await run('sfdisk', ['--json', disk]), n);
    if (!part) throw first;
    await run('resizepart', [disk, String(n), String(part.size)]);
  }
}

/** Grows an ext2/3/4 file system (mounted or not) to fill its partition or file. */
export async function resizeFileSystem(run: RunTool, device: string): Promise<void> {
  await run('resize2fs', [device]);
}

const mib = (sectors: number): string => `${Math.round(sectors / 2048)} MiB`;

/** The step: grow the partition when the decision says so, then the file system when it is smaller. */
export const growRoot: SetupStep = async (ctx) => {
  if (!ctx.live) return 'skipped: not the running system (--root is not /)';
  const found = await findRootPartition(ctx.root);
  if (typeof found === 'string') return `skipped: ${found}`;
  const { facts, disk, partition } = found;
  const decision = growDecision(facts);
  let said: string;
  let partitionBytes = facts.size * 512;
  if (decision.grow) {
    await growPartitionTable(ctx.run, disk, facts.number);
    await tellKernel(ctx.run, disk, facts.number);
    said = `grew partition ${facts.number} of ${disk} by ${mib(decision.freeSectors)}`;
    partitionBytes += decision.freeSectors * 512;
  } else {
    said = decision.reason;
  }
  if (!/^ext[234]$/.test(found.fsType)) return `${said}; a ${found.fsType} root is not resized`;
  if (!decision.grow) {
    const fsBytes = ext4Bytes(await ctx.run('dumpe2fs', ['-h', partition]));
    // An earlier boot may have grown the partition and stopped before the file system.
    if (fsBytes === null || !fsShouldGrow(fsBytes, partitionBytes)) return `nothing to do: ${said}`;
  }
  await resizeFileSystem(ctx.run, partition);
  return `${said}; resized the ${found.fsType} file system on ${partition} to fill it`;
};
