// Whether the root partition and its file system should grow: pure decisions from sizes and the tools' output.

/** Partitions start on 1 MiB boundaries, so up to 1 MiB (2048 sectors) at the end may stay unused. */
export const ALIGN_SECTORS = 2048;
/** The backup GPT (header and 32 sectors of entries) at the end of a GPT disk. */
export const GPT_BACKUP_SECTORS = 33;

export type TableKind = 'dos' | 'gpt' | 'none';

/** The root partition and its disk, sizes in 512-byte sectors as sysfs gives them. */
export interface PartitionFacts {
  readonly number: number;
  readonly start: number;
  readonly size: number;
  readonly diskSectors: number;
  /** Where the disk's other partitions start. */
  readonly otherStarts: readonly number[];
  readonly table: TableKind;
}

export type GrowDecision =
  | { readonly grow: true; readonly freeSectors: number }
  | { readonly grow: false; readonly reason: string };

/** Grow when this is the last MBR primary or GPT partition and more than the alignment slack follows it. */
export function growDecision(p: PartitionFacts): GrowDecision {
  const no = (reason: string): GrowDecision => ({ grow: false, reason });
  if (p.table === 'none') return no('the disk has no MBR or GPT partition table');
  if (p.table === 'dos' && p.number > 4) {
    return no(`partition ${p.number} is a logical partition; only primary ones are grown`);
  }
  if (p.otherStarts.some((s) => s > p.start)) {
    return no(`partition ${p.number} is not the last one on the disk`);
  }
  const usableEnd = p.diskSectors - (p.table === 'gpt' ? GPT_BACKUP_SECTORS : 0);
  const free = usableEnd - (p.start + p.size);
  if (free <= ALIGN_SECTORS) return no(`partition ${p.number} already fills the disk`);
  return { grow: true, freeSectors: free };
}

/** The table kind from a disk's first sector: the 0x55AA signature, and a 0xEE entry for GPT. */
export function tableKind(sector0: Uint8Array): TableKind {
  if (sector0.length < 512 || sector0[510] !== 0x55 || sector0[511] !== 0xaa) return 'none';
  for (let i = 0; i < 4; i++) {
    if (sector0[446 + 16 * i + 4] === 0xee) return 'gpt';
  }
  return 'dos';
}

/** Block count × block size from `dumpe2fs -h`, in bytes; null when it does not say. */
export function ext4Bytes(dumpe2fs: string): number | null {
  const count = /^Block count:\s+(\d+)$/m.exec(dumpe2fs)?.[1];
  const size = /^Block size:\s+(\d+)$/m.exec(dumpe2fs)?.[1];
  return count && size ? Number(count) * Number(size) : null;
}

/** A file system that is more than the alignment slack smaller than its partition should grow. */
export const fsShouldGrow = (fsBytes: number, partitionBytes: number): boolean =>
  partitionBytes - fsBytes > ALIGN_SECTORS * 512;

/** A partition's start and size (sectors) from `sfdisk --json DISK`, found by its number. */
export function sfdiskPartition(
  json: string,
  number: number,
): { start: number; size: number } | null {
  const parsed = JSON.parse(json) as {
    partitiontable?: { partitions?: { node?: string; start?: number; size?: number }[] };
  };
  const ending = new RegExp(`\\D${number}$`);
  const p = parsed.partitiontable?.partitions?.find((x) => ending.test(x.node ?? ''));
  return p?.start !== undefined && p.size !== undefined ? { start: p.start, size: p.size } : null;
}
