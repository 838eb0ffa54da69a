// Uploads an image's blobs to a manager: only the missing ones, in pipelined chunks, resuming where the manager's copy stops.
import type { BlobClient } from '../../../shared/images/blob-client.js';
import { BlobTransferError } from '../../../shared/images/blob-client.js';
import { CHUNK_BYTES } from '../../../shared/images/blob-protocol.js';
import { PushError } from './records.js';

/** Chunks sent before the first is acknowledged. */
const WINDOW = 8;
/** Broken connections, timeouts and dropped chunks survived per blob before giving up. */
const ATTEMPTS = 6;

export type ReadRange = (offset: number, length: number) => Promise<Buffer>;

export interface UploadReport {
  /** Blobs the manager already had (deduplicated, or from an earlier push). */
  present: number;
  uploaded: number;
  /** Bytes sent in this run, and bytes an earlier, broken push had already left there. */
  sentBytes: number;
  resumedBytes: number;
}

/** Uploads every blob of `blobs` the manager lacks. */
export async function uploadBlobs(
  client: BlobClient,
  blobs: ReadonlyMap<string, { size: number; read: ReadRange }>,
  onProgress: (sentBytes: number) => void = () => undefined,
): Promise<UploadReport> {
  const report: UploadReport = { present: 0, uploaded: 0, sentBytes: 0, resumedBytes: 0 };
  const stats = await client.stat([...blobs.keys()]);
  for (const st of stats) {
    const blob = blobs.get(st.digest);
    if (!blob) continue;
    if (st.size !== null) {
      report.present++;
      continue;
    }
    report.resumedBytes += Math.min(st.uploaded, blob.size);
    await uploadOne(client, st.digest, blob.size, blob.read, (n) => {
      report.sentBytes += n;
      onProgress(report.sentBytes);
    });
    report.uploaded++;
  }
  return report;
}

async function uploadOne(
  client: BlobClient,
  digest: string,
  size: number,
  read: ReadRange,
  sent: (bytes: number) => void,
): Promise<void> {
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    try {
      const [st] = await client.stat([digest]);
      if (st?.size !== null && st?.size !== undefined) return;
      await sendFrom(client, digest, size, st?.uploaded ?? 0, read, sent);
      await client.complete(digest);
      return;
    } catch (e) {
      if (!(e instanceof BlobTransferError) || !retryable(e)) throw explain(digest, e);
      lastError = e;
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    }
  }
  throw new PushError(`could not upload ${digest}: ${lastError?.message ?? 'gave up'}`);
}

/** Sends chunks from `offset` to the end with up to WINDOW of them unanswered. */
async function sendFrom(
  client: BlobClient,
  digest: string,
  size: number,
  from: number,
  read: ReadRange,
  sent: (bytes: number) => void,
): Promise<void> {
  const inFlight: Array<Promise<number>> = [];
  try {
    for (let offset = Math.min(from, size); offset < size;) {
      const length = Math.min(CHUNK_BYTES, size - offset);
      const bytes = await read(offset, length);
      if (bytes.length !== length) {
        throw new PushError(`the archive ended inside ${digest} (the file changed while pushing?)`);
      }
      const put = client.put(digest, offset, bytes).then((n) => {
        sent(length);
        return n;
      });
      put.catch(() => undefined);
      inFlight.push(put);
      offset += length;
      if (inFlight.length >= WINDOW) await inFlight.shift();
    }
    while (inFlight.length > 0) await inFlight.shift();
  } finally {
    await Promise.allSettled(inFlight);
  }
}

/** Dropped or reordered chunks, a lost connection, a slow manager: resume from its copy. */
function retryable(e: BlobTransferError): boolean {
  return ['wrong_offset', 'timeout', 'unavailable'].includes(e.code);
}

function explain(digest: string, e: unknown): Error {
  if (e instanceof BlobTransferError) {
    if (e.code === 'disk_full') return new PushError(`the manager's disk is full: ${e.message}`);
    if (e.code === 'digest_mismatch') {
      return new PushError(`${e.message} (the archive changed while pushing?)`);
    }
    return new PushError(`upload of ${digest} refused: ${e.message}`);
  }
  return e instanceof Error ? e : new Error(String(e));
}
