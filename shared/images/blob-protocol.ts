// The blob channel over MQTT: topics and binary frames (a JSON header, then raw bytes) for chunked, resumable blob transfer.
import { z } from 'zod';
import { PREFIX } from '../protocol.js';

/** Bytes of blob data in one frame: small enough to never hold a heartbeat back for long. */
export const CHUNK_BYTES = 256 * 1024;
/** Largest frame on a blob topic: one chunk, its header, and slack. */
export const BLOB_FRAME_MAX_BYTES = CHUNK_BYTES + 16 * 1024;
const HEADER_MAX_BYTES = 64 * 1024;

export const blobTopics = {
  /** What a client (CLI, agent, peer manager) asks of the manager whose broker it is on. */
  request: (clientId: string) => `${PREFIX}/blobs/${clientId}/req`,
  response: (clientId: string) => `${PREFIX}/blobs/${clientId}/res`,
};

/** The client id a manager's blob replicator connects to its peers with, beside their Raft links. */
export const managerBlobClientId = (managerId: string): string => `${managerId}.blobs`;

/** The client id of a request or response topic, or null for any other topic. */
export function blobTopicClient(topic: string, kind: 'req' | 'res'): string | null {
  const prefix = `${PREFIX}/blobs/`;
  if (!topic.startsWith(prefix) || !topic.endsWith(`/${kind}`)) return null;
  const id = topic.slice(prefix.length, -kind.length - 1);
  return id.length > 0 && !/[/+#]/.test(id) ? id : null;
}

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>');
const id = z.string().min(1).max(64);
const bytes = z.number().int().nonnegative();

export const blobRequestSchema = z.discriminatedUnion('op', [
  /** Which of these blobs the manager holds (their sizes) and how far their uploads got. */
  z.object({ v: z.literal(1), id, op: z.literal('stat'), digests: z.array(digest).max(1024) }),
  /** Appends the frame's bytes to the upload of `digest`, which must hold `offset` bytes. */
  z.object({ v: z.literal(1), id, op: z.literal('put'), digest, offset: bytes }),
  /** Verifies an upload against its digest and stores it. */
  z.object({ v: z.literal(1), id, op: z.literal('complete'), digest }),
  /** Up to `length` bytes of a stored blob from `offset`, in the response's body. */
  z.object({
    v: z.literal(1),
    id,
    op: z.literal('get'),
    digest,
    offset: bytes,
    length: z.number().int().min(1).max(CHUNK_BYTES),
  }),
  /** The sha256 of each CHUNK_BYTES piece of a stored blob, 32 bytes each in the body. */
  z.object({ v: z.literal(1), id, op: z.literal('chunks'), digest }),
]);
export type BlobRequest = z.infer<typeof blobRequestSchema>;

export interface BlobStat {
  digest: string;
  /** The stored blob's size, or null when it is not stored here. */
  size: number | null;
  /** Bytes of an unfinished upload: where the next chunk starts. */
  uploaded: number;
}

export const blobResponseSchema = z.union([
  z.object({
    v: z.literal(1),
    id,
    ok: z.literal(true),
    stats: z
      .array(z.object({ digest, size: bytes.nullable(), uploaded: bytes }))
      .max(1024)
      .optional(),
    /** put: the upload's size now. get and chunks: the blob's whole size. */
    size: bytes.optional(),
    stored: z.enum(['stored', 'deduplicated']).optional(),
  }),
  z.object({
    v: z.literal(1),
    id,
    ok: z.literal(false),
    error: z.object({
      code: z.string().max(64),
      message: z.string().max(2048),
      /** Where an upload must resume (a wrong offset, a full disk). */
      resumeAt: bytes.optional(),
    }),
  }),
]);
export type BlobResponse = z.infer<typeof blobResponseSchema>;

export type FrameDecoded<T> = { ok: true; header: T; body: Buffer } | { ok: false; reason: string };

/** A 4-byte big-endian header length, the header as JSON, then the body. */
export function encodeFrame(header: unknown, body: Uint8Array = new Uint8Array(0)): Buffer {
  const head = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(head.length, 0);
  return Buffer.concat([len, head, body]);
}

/** Parses and validates a frame; never throws. */
export function decodeFrame<T>(schema: z.ZodType<T>, frame: Buffer): FrameDecoded<T> {
  if (frame.length > BLOB_FRAME_MAX_BYTES) {
    return { ok: false, reason: `frame of ${frame.length} bytes exceeds ${BLOB_FRAME_MAX_BYTES}` };
  }
  if (frame.length < 4) return { ok: false, reason: 'frame shorter than its length prefix' };
  const len = frame.readUInt32BE(0);
  if (len > HEADER_MAX_BYTES || 4 + len > frame.length) {
    return { ok: false, reason: `frame header length ${len} does not fit the frame` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(frame.subarray(4, 4 + len).toString('utf8'));
  } catch {
    return { ok: false, reason: 'frame header is not valid JSON' };
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    const where = first?.path.length ? first.path.join('.') + ': ' : '';
    return { ok: false, reason: `frame header: ${where}${first?.message ?? 'invalid'}` };
  }
  return { ok: true, header: r.data, body: frame.subarray(4 + len) };
}
