// Parses one 512-byte tar header block (ustar, GNU and pax) and the records of a pax extended header.
import { ImageArchiveError } from './errors.js';

export const BLOCK = 512;

/** The entry kinds an image archive reader cares about; everything else is skipped. */
export type TarEntryKind = 'file' | 'directory' | 'pax' | 'pax-global' | 'gnu-long-name' | 'other';

export interface TarHeader {
  name: string;
  size: number;
  kind: TarEntryKind;
}

/** True for a block of zeros, which marks the end of an archive. */
export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Decodes a header; `offset` is where it starts in the archive, for the error message. */
export function parseHeader(block: Buffer, offset: number): TarHeader {
  if (!checksumMatches(block)) {
    throw new ImageArchiveError(
      'not-tar',
      `not a tar archive: the header at byte ${offset} has a bad checksum`,
    );
  }
  const magic = block.toString('latin1', 257, 263);
  const name = cString(block, 0, 100);
  // POSIX ustar splits long paths into prefix + name; GNU uses that area for times instead.
  const prefix = magic === 'ustar\0' ? cString(block, 345, 155) : '';
  return {
    name: prefix === '' ? name : `${prefix}/${name}`,
    size: parseNumber(block, 124, 12, offset),
    kind: kindOf(block[156] ?? 0),
  };
}

/** Reads the `length path=value\n` records of a pax header (POSIX.1-2001). */
export function parsePaxRecords(body: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    if (space < 0) break;
    const length = Number.parseInt(body.toString('latin1', pos, space), 10);
    if (!Number.isInteger(length) || length <= 0 || pos + length > body.length) {
      throw new ImageArchiveError('not-tar', 'not a tar archive: a pax header record is malformed');
    }
    const record = body.toString('utf8', space + 1, pos + length - 1); // drop the newline
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return records;
}

/** Bytes of padding after a body of `size` bytes, up to the next block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function kindOf(flag: number): TarEntryKind {
  switch (String.fromCharCode(flag)) {
    case '0':
    case '\0':
    case '7': // contiguous file: a regular file for readers
      return 'file';
    case '5':
      return 'directory';
    case 'x':
      return 'pax';
    case 'g':
      return 'pax-global';
    case 'L':
      return 'gnu-long-name';
    default:
      return 'other';
  }
}

function checksumMatches(block: Buffer): boolean {
  const stored = block
    .toString('latin1', 148, 156)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let sum = 0;
  // The checksum field itself counts as eight spaces.
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === Number.parseInt(stored, 8);
}

function cString(block: Buffer, start: number, length: number): string {
  const end = block.indexOf(0, start);
  const stop = end < 0 || end > start + length ? start + length : end;
  return block.toString('utf8', start, stop);
}

/** Octal, or GNU base-256 (high bit of the first byte set) for sizes of 8 GiB and more. */
function parseNumber(block: Buffer, start: number, length: number, offset: number): number {
  const first = block[start] ?? 0;
  if (first & 0x80) {
    let value = first & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + (block[i] ?? 0);
    return value;
  }
  const text = block
    .toString('latin1', start, start + length)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new ImageArchiveError('not-tar', `not a tar archive: bad size field at byte ${offset}`);
  }
  return Number.parseInt(text, 8);
}
