// The bundle file's layout: a magic line, the signed manifest's length and JSON, then each entry's bytes in manifest order.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import type { BundleEntry, SignedBundle } from './manifest.js';

/**
 * `FLEET-BUNDLE 1\n`, the manifest's byte length as ten decimal digits and `\n`, the signed
 * manifest's JSON, then the entries' bytes back to back in the order the manifest lists them,
 * and nothing after. A reader needs no index: every size is in the signed manifest.
 */
export const MAGIC = 'FLEET-BUNDLE 1\n';
const LENGTH_DIGITS = 10;
/** A manifest above this is refused before it is parsed. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const HEAD_BYTES = MAGIC.length + LENGTH_DIGITS + 1;
const COPY_CHUNK = 1024 * 1024;

/** The file is not a bundle, or is cut short or too long: the message says which. */
export class BundleFormatError extends Error {
  override readonly name = 'BundleFormatError';
}
export const isBundleFormatError = (e: unknown): e is BundleFormatError =>
  e instanceof BundleFormatError;

/** Where an entry's bytes come from when a bundle is written. */
export type EntrySource = () => AsyncIterable<Uint8Array>;

/** Writes a bundle; each source must yield exactly the bytes its entry lists (checked). */
export async function writeBundleFile(
  file: string,
  signed: SignedBundle,
  sources: ReadonlyMap<string, EntrySource>,
): Promise<void> {
  const json = Buffer.from(JSON.stringify(signed));
  if (json.length > MAX_MANIFEST_BYTES)
    throw new BundleFormatError(
      `the manifest has ${json.length} bytes, over ${MAX_MANIFEST_BYTES}`,
    );
  const fh = await fs.open(file, 'w', 0o644);
  try {
    await fh.write(Buffer.from(MAGIC + String(json.length).padStart(LENGTH_DIGITS, '0') + '\n'));
    await fh.write(json);
    for (const e of signed.manifest.entries) {
      const source = sources.get(e.name);
      if (!source) throw new BundleFormatError(`no bytes for the entry ${e.name}`);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of source()) {
        size += chunk.length;
        hash.update(chunk);
        await fh.write(chunk);
      }
      if (size !== e.size || hash.digest('hex') !== e.sha256)
        throw new BundleFormatError(`the bytes of ${e.name} changed while the bundle was written`);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export interface OpenedBundle {
  /** The signed manifest as parsed JSON, not yet checked (shared/bundle/verify.ts). */
  raw: unknown;
  /** Where the first entry starts. */
  entriesAt: number;
  size: number;
}

/** Reads the header and the manifest's JSON; throws BundleFormatError for anything else. */
export async function readBundleHead(file: string): Promise<OpenedBundle> {
  const fh = await fs.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(head, 0, HEAD_BYTES, 0);
    if (bytesRead < HEAD_BYTES || head.subarray(0, MAGIC.length).toString('latin1') !== MAGIC)
      throw new BundleFormatError('not a fleet bundle (no FLEET-BUNDLE 1 header)');
    const digits = head.subarray(MAGIC.length, MAGIC.length + LENGTH_DIGITS).toString('latin1');
    if (!/^\d{10}$/.test(digits) || head[HEAD_BYTES - 1] !== 0x0a)
      throw new BundleFormatError('the bundle header is damaged');
    const length = Number(digits);
    if (length > MAX_MANIFEST_BYTES || HEAD_BYTES + length > size)
      throw new BundleFormatError(`the bundle's manifest length ${length} does not fit the file`);
    const json = Buffer.alloc(length);
    await fh.read(json, 0, length, HEAD_BYTES);
    let raw: unknown;
    try {
      raw = JSON.parse(json.toString('utf8'));
    } catch {
      throw new BundleFormatError("the bundle's manifest is not JSON");
    }
    return { raw, entriesAt: HEAD_BYTES + length, size };
  } finally {
    await fh.close();
  }
}

/**
 * Copies every entry to the file `dest(entry)` names, hashing as it goes: throws on the first
 * entry whose bytes do not match the manifest, and when the file is shorter or longer.
 */
export async function copyEntries(
  file: string,
  opened: OpenedBundle,
  entries: readonly BundleEntry[],
  dest: (e: BundleEntry) => string,
): Promise<void> {
  const total = entries.reduce((n, e) => n + e.size, 0);
  if (opened.entriesAt + total !== opened.size)
    throw new BundleFormatError(
      `the file holds ${opened.size - opened.entriesAt} bytes of entries, the manifest lists ${total}`,
    );
  const fh = await fs.open(file, 'r');
  try {
    let at = opened.entriesAt;
    const buf = Buffer.alloc(COPY_CHUNK);
    for (const e of entries) {
      const out = await fs.open(dest(e), 'w', 0o600);
      const hash = createHash('sha256');
      try {
        for (let left = e.size; left > 0;) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(left, COPY_CHUNK), at);
          if (bytesRead === 0) throw new BundleFormatError(`the file ends inside ${e.name}`);
          const chunk = buf.subarray(0, bytesRead);
          hash.update(chunk);
          await out.write(chunk);
          left -= bytesRead;
          at += bytesRead;
        }
        await out.sync();
      } finally {
        await out.close();
      }
      if (hash.digest('hex') !== e.sha256)
        throw new BundleFormatError(`entry ${e.name} does not match its hash`);
    }
  } finally {
    await fh.close();
  }
}
