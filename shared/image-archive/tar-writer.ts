// Writes a tar archive as a stream of chunks: ustar headers, pax records for long names and huge sizes, file bodies streamed.
import { BLOCK, padding } from './tar-header.js';

/** One entry to write. A file's body is streamed and must yield exactly `size` bytes. */
export type TarSource =
  | { kind: 'directory'; name: string }
  | { kind: 'file'; name: string; size: number; body: Buffer | (() => AsyncIterable<Uint8Array>) };

/** The largest size the 11 octal digits of a ustar header hold (8 GiB - 1). */
const MAX_OCTAL_SIZE = 0o77777777777;

/**
 * Yields the archive chunk by chunk: each entry's header blocks, its body as the source yields
 * it (never gathered in memory), padding, and the two zero blocks that end the archive. A body
 * that yields more or fewer bytes than its size fails the stream, as the archive would be wrong.
 */
export async function* tarChunks(
  entries: Iterable<TarSource> | AsyncIterable<TarSource>,
): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    yield entryHeader(entry);
    if (entry.kind === 'directory') continue;
    if (Buffer.isBuffer(entry.body)) {
      if (entry.body.length !== entry.size)
        throw sizeError(entry.name, entry.size, entry.body.length);
      yield entry.body;
    } else {
      let written = 0;
      for await (const chunk of entry.body()) {
        written += chunk.byteLength;
        if (written > entry.size) throw sizeError(entry.name, entry.size, written);
        yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
      if (written !== entry.size) throw sizeError(entry.name, entry.size, written);
    }
    const pad = padding(entry.size);
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(2 * BLOCK);
}

/** How many bytes tarChunks yields for these entries. */
export function tarSize(entries: Iterable<TarSource>): number {
  let total = 2 * BLOCK;
  for (const e of entries) {
    total += entryHeader(e).length;
    if (e.kind === 'file') total += e.size + padding(e.size);
  }
  return total;
}

function entryHeader(entry: TarSource): Buffer {
  if (entry.kind === 'file') return headerBlocks(entry.name, entry.size, '0');
  return headerBlocks(entry.name.endsWith('/') ? entry.name : `${entry.name}/`, 0, '5');
}

/** The header of one entry, preceded by a pax extended header when the name or size needs one. */
export function headerBlocks(name: string, size: number, type: '0' | '5'): Buffer {
  const records: [string, string][] = [];
  const split = splitName(name);
  if (split === null) records.push(['path', name]);
  if (size > MAX_OCTAL_SIZE) records.push(['size', String(size)]);
  const main = ustarHeader(
    split ?? { prefix: '', name: truncateUtf8(name, 100) },
    size > MAX_OCTAL_SIZE ? 0 : size,
    type,
  );
  if (records.length === 0) return main;
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  const base = truncateUtf8(
    `PaxHeaders.0/${name.split('/').filter(Boolean).pop() ?? 'entry'}`,
    100,
  );
  return Buffer.concat([
    ustarHeader({ prefix: '', name: base }, body.length, 'x'),
    body,
    Buffer.alloc(padding(body.length)),
    main,
  ]);
}

/** Fits a name into ustar's name (100 bytes) and prefix (155 bytes) fields, or null. */
function splitName(name: string): { prefix: string; name: string } | null {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  // The prefix ends at a slash that is not kept in either field.
  for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest !== '') {
      return { prefix, name: rest };
    }
  }
  return null;
}

function ustarHeader(
  fields: { prefix: string; name: string },
  size: number,
  type: '0' | '5' | 'x',
): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name, 0, 100, 'utf8');
  block.write(octal(type === '5' ? 0o755 : 0o644, 8), 100, 'latin1');
  block.write(octal(0, 8), 108, 'latin1'); // uid
  block.write(octal(0, 8), 116, 'latin1'); // gid
  block.write(octal(size, 12), 124, 'latin1');
  block.write(octal(0, 12), 136, 'latin1'); // mtime: fixed, so equal inputs give equal archives
  block.write('        ', 148, 'latin1'); // the checksum counts its own field as spaces
  block.write(type, 156, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  block.write(fields.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/** A zero-padded octal field of `width` bytes, the last one a NUL. */
function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One `length key=value\n` record; the length counts its own digits. */
function paxRecord(key: string, value: string): Buffer {
  const rest = Buffer.byteLength(` ${key}=${value}\n`);
  let length = rest + 1;
  while (String(length).length + rest !== length) length = String(length).length + rest;
  return Buffer.from(`${length} ${key}=${value}\n`, 'utf8');
}

function truncateUtf8(text: string, bytes: number): string {
  let out = text;
  while (Buffer.byteLength(out) > bytes) out = out.slice(0, -1);
  return out;
}

function sizeError(name: string, expected: number, got: number): Error {
  return new Error(
    `tar entry ${name} should hold ${expected} bytes but its source gave ${got > expected ? `at least ${got}` : got}`,
  );
}
