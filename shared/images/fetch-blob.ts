// Fetches one blob into a local store from a list of sources: chunks checked one by one, resumed from what is on disk.
import { BlobStoreError } from '../blobs/blob-errors.js';
import type { BlobStore } from '../blobs/blob-store.js';
import { chunkMatches } from '../blobs/chunk-hashes.js';
import { errorMessage } from '../errors.js';
import { CHUNK_BYTES } from './blob-protocol.js';

/** Somewhere a blob's bytes can be read from: a manager over MQTT, or a neighbour over HTTP. */
export interface BlobSource {
  /** For messages and counters: "manager m1", "peer node-2". */
  readonly name: string;
  readonly kind: 'manager' | 'peer';
  /** The node id of a peer. */
  readonly id?: string;
  read(digest: string, offset: number, length: number): Promise<Uint8Array>;
}

export interface FetchOptions {
  store: BlobStore;
  digest: string;
  size: number;
  /** 32-byte sha256 per CHUNK_BYTES piece, from a manager (which verified the whole blob). */
  hashes: Buffer;
  /** Tried in order for every chunk; a source that fails or sends bad bytes is dropped for this blob. */
  sources: BlobSource[];
  /** Chunks requested ahead of the one being written. */
  window?: number;
  /** Told of every verified chunk, by the source that sent it. */
  onChunk?: (source: BlobSource, bytes: number) => void;
  /** Told that bytes kept on disk from an earlier try did not match their hashes and were cut. */
  onDamaged?: (chunk: number, kept: number, had: number) => void;
  /** Told of a source dropped for this blob, and why. */
  onBadSource?: (source: BlobSource, why: string) => void;
  /** Waits between asking a source that said "not yet" again; without it such a source is dropped. */
  sleep?: (ms: number) => Promise<void>;
  /** How long a "not yet" source may keep a chunk waiting before it is dropped (default 20 s). */
  stallMs?: number;
}

const NOT_YET_PAUSE_MS = 250;

/** A source that will have the range soon (a neighbour still downloading it): ask it again. */
export class NotYetError extends Error {
  override readonly name = 'NotYetError';
}

export class FetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FetchError';
  }
}

/**
 * Resumes at the bytes already on disk (an agent restarted mid-way keeps them: every chunk was
 * checked before it was written). Ends with the store's own whole-blob check.
 */
export async function fetchBlob(o: FetchOptions): Promise<'stored' | 'present'> {
  if (await o.store.has(o.digest)) return 'present';
  const chunks = Math.ceil(o.size / CHUNK_BYTES);
  if (o.hashes.length !== chunks * 32) {
    throw new FetchError(
      `chunk list of ${o.digest} has ${o.hashes.length / 32} entries, expected ${chunks}`,
    );
  }
  const usable = [...o.sources];
  let offset = await o.store.uploadedBytes(o.digest);
  if (offset > o.size) {
    await o.store.remove(o.digest);
    offset = 0;
  }
  offset = await checkKept(o, offset);
  const window = Math.max(1, o.window ?? 4);
  const inFlight = new Map<number, Promise<{ bytes: Uint8Array; from: BlobSource }>>();
  const request = (i: number): void => {
    if (i >= chunks || inFlight.has(i)) return;
    const p = readChunk(o, usable, i);
    p.catch(() => undefined); // awaited in order below
    inFlight.set(i, p);
  };
  for (let i = Math.floor(offset / CHUNK_BYTES); i < chunks; i++) {
    for (let j = i; j < i + window; j++) request(j);
    const got = await inFlight.get(i);
    inFlight.delete(i);
    if (!got) throw new FetchError(`chunk ${i} of ${o.digest} was never requested`);
    o.onChunk?.(got.from, got.bytes.length);
    // A partial write (a full disk) may have left the upload inside this chunk.
    const start = offset - i * CHUNK_BYTES;
    offset = await o.store.writeChunk(o.digest, offset, got.bytes.subarray(start));
  }
  for (const p of inFlight.values()) p.catch(() => undefined);
  try {
    await o.store.complete(o.digest);
  } catch (e) {
    if (e instanceof BlobStoreError && e.problem === 'digest-mismatch') {
      throw new FetchError(
        `${o.digest}: the assembled blob does not match its digest; it was removed`,
      );
    }
    throw e;
  }
  return 'stored';
}

/**
 * The bytes kept on disk by an earlier try, once every whole chunk of them is checked against
 * its hash again: a disk or a crash may have damaged them since. The upload is cut back to the
 * last good chunk, so the damaged one is fetched again rather than the whole blob failing its
 * final check. A trailing piece of a chunk stays (the final check covers it).
 */
async function checkKept(o: FetchOptions, held: number): Promise<number> {
  for (let good = 0; good < held; good += CHUNK_BYTES) {
    const length = Math.min(CHUNK_BYTES, o.size - good);
    if (good + length > held) return held;
    const bytes = await o.store.readAvailable(o.digest, good, length);
    if (bytes.length === length && chunkMatches(o.hashes, good / CHUNK_BYTES, bytes)) continue;
    const kept = await o.store.truncateUpload(o.digest, good);
    o.onDamaged?.(good / CHUNK_BYTES, kept, held);
    return kept;
  }
  return held;
}

/** One chunk from the first source that delivers bytes matching its hash. */
async function readChunk(
  o: FetchOptions,
  usable: BlobSource[],
  index: number,
): Promise<{ bytes: Uint8Array; from: BlobSource }> {
  const length = Math.min(CHUNK_BYTES, o.size - index * CHUNK_BYTES);
  const tried: string[] = [];
  for (const source of [...usable]) {
    if (!usable.includes(source)) continue; // dropped by another chunk meanwhile
    let why: string;
    let waited = 0;
    for (;;) {
      try {
        const bytes = await source.read(o.digest, index * CHUNK_BYTES, length);
        if (bytes.length === length && chunkMatches(o.hashes, index, bytes))
          return { bytes, from: source };
        why = `chunk ${index} of ${o.digest} from ${source.name} does not match its hash (${bytes.length} bytes)`;
      } catch (e) {
        why = `${source.name}: ${errorMessage(e)}`;
        if (e instanceof NotYetError && o.sleep && waited < (o.stallMs ?? 20_000)) {
          await o.sleep(NOT_YET_PAUSE_MS);
          waited += NOT_YET_PAUSE_MS;
          if (usable.includes(source)) continue;
        }
      }
      break;
    }
    tried.push(why);
    const at = usable.indexOf(source);
    if (at >= 0 && usable.length > 1) usable.splice(at, 1);
    o.onBadSource?.(source, why);
  }
  throw new FetchError(
    `could not fetch chunk ${index} of ${o.digest}: ${tried.join('; ') || 'no source'}`,
  );
}
