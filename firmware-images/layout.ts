// Partition layout of a board image: sizes from content plus headroom, 1 MiB alignment, the sfdisk script.
export const SECTOR = 512;
export const MIB = 1024 * 1024;
/** Partitions start on 1 MiB boundaries, as SD cards' erase blocks and every modern tool expect. */
export const ALIGN_SECTORS = MIB / SECTOR;

export interface Extent {
  /** First sector. */
  readonly start: number;
  readonly sectors: number;
}

export interface Layout {
  readonly boot: Extent;
  readonly root: Extent;
  readonly totalSectors: number;
}

export const bytesOf = (e: Extent): { offset: number; length: number } => ({
  offset: e.start * SECTOR,
  length: e.sectors * SECTOR,
});

/** Rounds `bytes` up to whole MiB. */
export function roundUpMiB(bytes: number): number {
  if (!Number.isFinite(bytes) || bytes < 0) throw new Error(`invalid size ${bytes}`);
  return Math.ceil(bytes / MIB) * MIB;
}

/** A partition size for `contentBytes`: a share and a fixed amount on top, at least `minBytes`, whole MiB. */
export function withHeadroom(
  contentBytes: number,
  opts: { ratio: number; extraBytes: number; minBytes: number },
): number {
  return roundUpMiB(Math.max(opts.minBytes, contentBytes * (1 + opts.ratio) + opts.extraBytes));
}

/** The boot partition first, then the root; each 1 MiB aligned, the root ending the image. */
export function planLayout(bootBytes: number, rootBytes: number): Layout {
  const boot: Extent = { start: ALIGN_SECTORS, sectors: roundUpMiB(bootBytes) / SECTOR };
  const rootStart = alignUp(boot.start + boot.sectors);
  const root: Extent = { start: rootStart, sectors: roundUpMiB(rootBytes) / SECTOR };
  return { boot, root, totalSectors: root.start + root.sectors };
}

/** The first aligned sector at or after `sector`. */
export function alignUp(sector: number): number {
  return Math.ceil(sector / ALIGN_SECTORS) * ALIGN_SECTORS;
}

/** An sfdisk script for the layout: an MBR ("dos") table, a bootable FAT32 (LBA) boot and a Linux root. */
export function sfdiskScript(layout: Layout): string {
  return [
    'label: dos',
    'unit: sectors',
    '',
    `start=${layout.boot.start}, size=${layout.boot.sectors}, type=c, bootable`,
    `start=${layout.root.start}, size=${layout.root.sectors}, type=83`,
    '',
  ].join('\n');
}
