// Raft messages on the wire: zod schemas, message batches, and snapshots split into chunks and put back together.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { systemClock, type Clock } from '../../shared/clock.js';
import { MAX_PAYLOAD_BYTES, RAFT_MAX_PAYLOAD_BYTES, decode } from '../../shared/protocol.js';
import type { Entry, Message, Snapshot } from './core/types.js';

/** Bytes of snapshot JSON per chunk; base64 and the envelope keep a chunk under MAX_PAYLOAD_BYTES. */
export const SNAP_CHUNK_BYTES = 128 * 1024;
/** Largest snapshot a manager accepts; a bigger one is refused, never buffered. */
export const MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024;
/** A snapshot whose next chunk is this late is abandoned (the leader sends a fresh one). */
export const SNAP_TIMEOUT_MS = 30_000;

const count = z.number().int().min(0);
const nodeId = z.string().min(1).max(64);

export const entrySchema = z.object({
  index: count,
  term: count,
  type: z.enum(['normal', 'conf']),
  data: z.string(),
});

export const snapshotSchema = z.object({
  meta: z.object({
    index: count,
    term: count,
    conf: z.object({ voters: z.array(nodeId), learners: z.array(nodeId) }),
  }),
  data: z.string(),
});

export const messageSchema = z.object({
  type: z.enum([
    'prevote',
    'prevote-resp',
    'vote',
    'vote-resp',
    'app',
    'app-resp',
    'heartbeat',
    'heartbeat-resp',
    'snap',
    'timeout-now',
  ]),
  from: nodeId,
  to: nodeId,
  term: count,
  index: count.optional(),
  logTerm: count.optional(),
  entries: z.array(entrySchema).optional(),
  commit: count.optional(),
  reject: z.boolean().optional(),
  rejectHint: count.optional(),
  snapshot: snapshotSchema.optional(),
  context: z.string().max(4096).optional(),
});

// Compile-time checks that the schemas produce exactly the core's types.
const _entry: z.ZodType<Entry> = entrySchema;
const _snapshot: z.ZodType<Snapshot> = snapshotSchema;
const _message: z.ZodType<Message> = messageSchema;
void [_entry, _snapshot, _message];

export const batchSchema = z.object({
  v: z.literal(1),
  from: nodeId,
  msgs: z.array(messageSchema).min(1).max(100_000),
});
export type Batch = z.infer<typeof batchSchema>;

export const chunkSchema = z.object({
  v: z.literal(1),
  from: nodeId,
  to: nodeId,
  /** Names one snapshot transfer; a new id from the same sender abandons the previous one. */
  id: z.string().min(1).max(64),
  seq: count,
  total: z
    .number()
    .int()
    .min(1)
    .max(Math.ceil(MAX_SNAPSHOT_BYTES / SNAP_CHUNK_BYTES)),
  /** Bytes of the whole message's JSON, checked against what arrives. */
  size: z.number().int().min(1).max(MAX_SNAPSHOT_BYTES),
  term: count,
  /** This chunk's bytes, base64. */
  data: z.string().max(Math.ceil(SNAP_CHUNK_BYTES / 3) * 4),
});
export type Chunk = z.infer<typeof chunkSchema>;

export type WireResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/** JSON of one message, ready to be joined into a batch without stringifying twice. */
export const encodeMessage = (m: Message): string => JSON.stringify(m);

/** A batch from already encoded messages: {v:1, from, msgs}. */
export function encodeBatch(from: string, encoded: readonly string[]): Buffer {
  return Buffer.from(`{"v":1,"from":${JSON.stringify(from)},"msgs":[${encoded.join(',')}]}`);
}

/** Bytes a batch adds around its messages (the commas included, generously). */
export const batchOverhead = (from: string): number => 40 + Buffer.byteLength(from);

export function decodeBatch(payload: Buffer): WireResult<Batch> {
  return decode(batchSchema, payload, RAFT_MAX_PAYLOAD_BYTES);
}

/** A snapshot message cut into chunks, each made when it is sent so only the JSON stays in memory. */
export interface SnapshotChunks {
  total: number;
  chunk(seq: number): Buffer;
}

/** Splits a 'snap' message into chunk payloads of at most SNAP_CHUNK_BYTES of its JSON each. */
export function encodeSnapshotChunks(m: Message): SnapshotChunks {
  const json = Buffer.from(JSON.stringify(m));
  if (json.length > MAX_SNAPSHOT_BYTES)
    throw new Error(`snapshot message of ${json.length} bytes exceeds ${MAX_SNAPSHOT_BYTES}`);
  const id = randomBytes(8).toString('hex');
  const total = Math.max(1, Math.ceil(json.length / SNAP_CHUNK_BYTES));
  const chunk = (seq: number): Buffer => {
    const data = json.subarray(seq * SNAP_CHUNK_BYTES, (seq + 1) * SNAP_CHUNK_BYTES);
    const c: Chunk = {
      v: 1,
      from: m.from,
      to: m.to,
      id,
      seq,
      total,
      size: json.length,
      term: m.term,
      data: data.toString('base64'),
    };
    return Buffer.from(JSON.stringify(c));
  };
  return { total, chunk };
}

export function decodeChunk(payload: Buffer): WireResult<Chunk> {
  return decode(chunkSchema, payload, MAX_PAYLOAD_BYTES);
}

interface Assembly {
  id: string;
  total: number;
  size: number;
  next: number;
  received: number;
  parts: Buffer[];
  lastAt: number;
}

/** What adding a chunk led to: keep waiting, a whole message, or the transfer was refused. */
export type AssemblyResult =
  { kind: 'partial' } | { kind: 'done'; msg: Message } | { kind: 'error'; reason: string };

/**
 * Puts snapshot chunks back together. Memory is bounded: one transfer per sender (a new one
 * replaces it), each at most MAX_SNAPSHOT_BYTES, and a stalled one is dropped by sweep().
 * Chunks must arrive in order: they travel on one connection, so a gap means one was lost and
 * the transfer cannot complete anyway.
 */
export class SnapshotAssembler {
  private readonly inFlight = new Map<string, Assembly>();

  constructor(
    private readonly selfId: string,
    private readonly clock: Clock = systemClock,
  ) {}

  add(c: Chunk): AssemblyResult {
    if (c.to !== this.selfId) return { kind: 'error', reason: `chunk addressed to ${c.to}` };
    let a = this.inFlight.get(c.from);
    if (!a || a.id !== c.id) {
      // A newer transfer starts, or a leftover chunk of a dropped one arrives.
      if (c.seq !== 0) {
        return { kind: 'error', reason: `chunk ${c.seq} of an unknown transfer ${c.id}` };
      }
      if (c.total * SNAP_CHUNK_BYTES < c.size || (c.total - 1) * SNAP_CHUNK_BYTES >= c.size) {
        this.inFlight.delete(c.from);
        return { kind: 'error', reason: `${c.total} chunks cannot hold ${c.size} bytes` };
      }
      a = { id: c.id, total: c.total, size: c.size, next: 0, received: 0, parts: [], lastAt: 0 };
      this.inFlight.set(c.from, a);
    }
    const fail = (reason: string): AssemblyResult => {
      this.inFlight.delete(c.from);
      return { kind: 'error', reason };
    };
    if (c.seq !== a.next) return fail(`chunk ${c.seq} arrived, ${a.next} expected`);
    if (c.total !== a.total || c.size !== a.size) return fail('chunk headers changed mid-transfer');
    const part = Buffer.from(c.data, 'base64');
    const expected = c.seq === a.total - 1 ? a.size - c.seq * SNAP_CHUNK_BYTES : SNAP_CHUNK_BYTES;
    if (part.length !== expected) return fail(`chunk ${c.seq} holds ${part.length} bytes`);
    a.parts.push(part);
    a.received += part.length;
    a.next++;
    a.lastAt = this.clock.now();
    if (a.next < a.total) return { kind: 'partial' };
    this.inFlight.delete(c.from);
    const whole = Buffer.concat(a.parts, a.received);
    const r = decode(messageSchema, whole, MAX_SNAPSHOT_BYTES);
    if (!r.ok) return { kind: 'error', reason: `reassembled snapshot: ${r.reason}` };
    const m = r.value;
    if (m.type !== 'snap' || !m.snapshot || m.from !== c.from || m.to !== this.selfId)
      return { kind: 'error', reason: 'reassembled message is not a snapshot from its sender' };
    return { kind: 'done', msg: m };
  }

  /** Drops transfers whose last chunk is older than SNAP_TIMEOUT_MS; returns their senders. */
  sweep(timeoutMs = SNAP_TIMEOUT_MS): string[] {
    const t = this.clock.now();
    const gone: string[] = [];
    for (const [from, a] of this.inFlight) {
      if (t - a.lastAt > timeoutMs) {
        this.inFlight.delete(from);
        gone.push(from);
      }
    }
    return gone;
  }

  /** Forgets a sender's transfer (partitioned or removed peer). */
  drop(from: string): void {
    this.inFlight.delete(from);
  }

  get pending(): number {
    return this.inFlight.size;
  }
}
