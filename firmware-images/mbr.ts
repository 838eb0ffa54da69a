// Reads an MBR partition table from the first sector of a disk image, without sfdisk, to inspect and edit images.
import { open } from 'node:fs/promises';
import { SECTOR } from './layout.js';

export interface MbrPartition {
  /** 1 to 4, as Linux numbers primary partitions. */
  readonly index: number;
  readonly bootable: boolean;
  readonly type: number;
  readonly start: number;
  readonly sectors: number;
}

/** Partition types that hold a FAT file system (FAT12, FAT16, FAT32 with CHS or LBA). */
const FAT_TYPES = new Set([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e]);
const GPT_PROTECTIVE = 0xee;
const TABLE_OFFSET = 446;
const ENTRY_BYTES = 16;

export const isFatType = (type: number): boolean => FAT_TYPES.has(type);

/** The used entries of the table in `sector0` (the disk's first 512 bytes). */
export function parseMbr(sector0: Uint8Array): MbrPartition[] {
  if (sector0.length < SECTOR) throw new Error('not a disk image: shorter than one sector');
  if (sector0[510] !== 0x55 || sector0[511] !== 0xaa) {
    throw new Error('not a disk image: no MBR partition table (no 55 AA signature)');
  }
  const view = new DataView(sector0.buffer, sector0.byteOffset, SECTOR);
  const out: MbrPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const at = TABLE_OFFSET + i * ENTRY_BYTES;
    const status = view.getUint8(at);
    const type = view.getUint8(at + 4);
    const start = view.getUint32(at + 8, true);
    const sectors = view.getUint32(at + 12, true);
    if (type === 0 || sectors === 0) continue;
    if (status !== 0 && status !== 0x80) throw new Error(`partition ${i + 1}: bad status byte`);
    if (type === GPT_PROTECTIVE) throw new Error('a GPT disk: only MBR images are supported');
    out.push({ index: i + 1, bootable: status === 0x80, type, start, sectors });
  }
  return out;
}

/** The partition table of an image file; also checks every partition lies within the file. */
export async function readPartitionTable(file: string): Promise<MbrPartition[]> {
  const h = await open(file, 'r');
  try {
    const size = (await h.stat()).size;
    const buf = Buffer.alloc(SECTOR);
    await h.read(buf, 0, SECTOR, 0);
    let table: MbrPartition[];
    try {
      table = parseMbr(size < SECTOR ? buf.subarray(0, size) : buf);
    } catch (e) {
      throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    for (const p of table) {
      if ((p.start + p.sectors) * SECTOR > size) {
        throw new Error(`partition ${p.index} ends past the end of ${file} (truncated image?)`);
      }
    }
    return table;
  } finally {
    await h.close();
  }
}

/** The first partition, which must be FAT and must start with a FAT boot sector. */
export async function fatBootPartition(file: string): Promise<MbrPartition> {
  const first = (await readPartitionTable(file)).find((p) => p.index === 1);
  if (!first || !isFatType(first.type)) {
    const type = first ? `type 0x${first.type.toString(16)}` : 'none';
    throw new Error(`${file}: the first partition is not FAT (${type}); not a board image`);
  }
  const h = await open(file, 'r');
  try {
    const boot = Buffer.alloc(SECTOR);
    await h.read(boot, 0, SECTOR, first.start * SECTOR);
    if (!looksLikeFat(boot))
      throw new Error(`${file}: the first partition holds no FAT file system`);
  } finally {
    await h.close();
  }
  return first;
}

/** A FAT boot sector: the 55 AA signature and a FAT type string where FAT12/16 or FAT32 keep it. */
export function looksLikeFat(bootSector: Uint8Array): boolean {
  if (bootSector[510] !== 0x55 || bootSector[511] !== 0xaa) return false;
  const text = (at: number): string =>
    Buffer.from(bootSector.subarray(at, at + 8)).toString('latin1');
  return text(0x36).startsWith('FAT') || text(0x52).startsWith('FAT');
}

/** "FAT32 (LBA)" for 0x0c, as fdisk names types. */
export function typeName(type: number): string {
  const names: Record<number, string> = {
    0x01: 'FAT12',
    0x04: 'FAT16 <32M',
    0x06: 'FAT16',
    0x0b: 'FAT32',
    0x0c: 'FAT32 (LBA)',
    0x0e: 'FAT16 (LBA)',
    0x83: 'Linux',
    0x82: 'Linux swap',
  };
  return names[type] ?? `0x${type.toString(16).padStart(2, '0')}`;
}
