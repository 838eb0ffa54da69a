// Writes small tar archives in memory for tests: ustar headers, long names as pax or GNU entries.
import { createHash } from 'node:crypto';

export interface TarEntry {
  name: string;
  data: Buffer;
  /** How a name over 100 bytes is written; pax by default. */
  longName?: 'pax' | 'gnu';
  /** Puts the size in a pax `size` record and 0 in the header, as writers do past 8 GiB. */
  paxSize?: boolean;
}

export function tarBuffer(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    let name = e.name;
    if (Buffer.byteLength(name) > 100) {
      if (e.longName === 'gnu') {
        parts.push(...file('././@LongLink', Buffer.from(`${name}\0`), 'L', 'gnu'));
      } else {
        parts.push(...file(`PaxHeaders/${name.slice(-60)}`, paxRecord('path', name), 'x', 'ustar'));
      }
      name = name.slice(0, 100);
    }
    if (e.paxSize === true) {
      parts.push(
        ...file('PaxHeaders/size', paxRecord('size', String(e.data.length)), 'x', 'ustar'),
      );
      parts.push(header(name, 0, '0', 'ustar'), e.data, Buffer.alloc(padding(e.data.length)));
      continue;
    }
    parts.push(...file(name, e.data, '0', e.longName === 'gnu' ? 'gnu' : 'ustar'));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const sha256 = (data: Buffer): string =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;

function file(name: string, data: Buffer, type: string, magic: 'ustar' | 'gnu'): Buffer[] {
  return [header(name, data.length, type, magic), data, Buffer.alloc(padding(data.length))];
}

const padding = (size: number): number => (512 - (size % 512)) % 512;

function header(name: string, size: number, type: string, magic: 'ustar' | 'gnu'): Buffer {
  const block = Buffer.alloc(512);
  block.write(name, 0, 100, 'utf8');
  block.write('0000644\0', 100, 'latin1');
  block.write('0000000\0', 108, 'latin1');
  block.write('0000000\0', 116, 'latin1');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  block.write(`${(1_700_000_000).toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  block.write('        ', 148, 'latin1');
  block.write(type, 156, 'latin1');
  block.write(magic === 'gnu' ? 'ustar  \0' : 'ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** One `length key=value\n` record; the length counts its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLength = Buffer.byteLength(body);
  let length = bodyLength + 1;
  while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
  return Buffer.from(`${length}${body}`);
}
