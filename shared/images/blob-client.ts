// A client of one manager's blob channel: requests out as frames, responses matched by id, each bounded by a timeout.
import type { Clock, TimerHandle } from '../clock.js';
import {
  blobResponseSchema,
  blobTopics,
  decodeFrame,
  encodeFrame,
  type BlobRequest,
  type BlobStat,
} from './blob-protocol.js';

/** What the client needs of an MQTT connection: its id and a way to publish (QoS 1). */
export interface BlobLink {
  readonly clientId: string;
  /** False (or a rejection) when the message could not be handed to the broker. */
  send(topic: string, frame: Buffer): boolean | Promise<void>;
}

/** A refused or failed blob request; `code` is the manager's (not_found, digest_mismatch, …). */
export class BlobTransferError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly resumeAt?: number,
  ) {
    super(message);
    this.name = 'BlobTransferError';
  }
}

interface Pending {
  resolve: (r: { header: Record<string, unknown>; body: Buffer }) => void;
  reject: (e: Error) => void;
  timer: TimerHandle;
}

let counter = 0;

/**
 * The owner subscribes to blobTopics.response(link.clientId) and hands every message to
 * deliver(); on a disconnect it calls failAll() so nothing waits for a reply that cannot come.
 */
export class BlobClient {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly link: BlobLink,
    private readonly clock: Clock,
    private readonly timeoutMs = 15_000,
  ) {}

  get responseTopic(): string {
    return blobTopics.response(this.link.clientId);
  }

  deliver(frame: Buffer): void {
    const d = decodeFrame(blobResponseSchema, frame);
    if (!d.ok) return;
    const p = this.pending.get(d.header.id);
    if (!p) return; // a reply to a request that timed out
    this.pending.delete(d.header.id);
    this.clock.clearTimeout(p.timer);
    if (d.header.ok) p.resolve({ header: d.header, body: d.body });
    else
      p.reject(
        new BlobTransferError(d.header.error.code, d.header.error.message, d.header.error.resumeAt),
      );
  }

  failAll(reason: string): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      this.clock.clearTimeout(p.timer);
      p.reject(new BlobTransferError('unavailable', reason));
    }
  }

  async stat(digests: string[]): Promise<BlobStat[]> {
    const { header } = await this.request({ op: 'stat', digests });
    return (header.stats as BlobStat[] | undefined) ?? [];
  }

  /** Appends a chunk; resolves with the upload's size. */
  async put(digest: string, offset: number, bytes: Uint8Array): Promise<number> {
    const { header } = await this.request({ op: 'put', digest, offset }, bytes);
    return header.size as number;
  }

  async complete(digest: string): Promise<'stored' | 'deduplicated'> {
    const { header } = await this.request({ op: 'complete', digest });
    return header.stored as 'stored' | 'deduplicated';
  }

  /** Up to `length` bytes from `offset`, and the blob's whole size. */
  async get(
    digest: string,
    offset: number,
    length: number,
  ): Promise<{ bytes: Buffer; size: number }> {
    const { header, body } = await this.request({ op: 'get', digest, offset, length });
    return { bytes: body, size: header.size as number };
  }

  /** The 32-byte sha256 of each chunk of a stored blob, in order. */
  async chunks(digest: string): Promise<{ hashes: Buffer; size: number }> {
    const { header, body } = await this.request({ op: 'chunks', digest });
    return { hashes: body, size: header.size as number };
  }

  private request(
    req: DistributiveOmit<BlobRequest, 'v' | 'id'>,
    body?: Uint8Array,
  ): Promise<{ header: Record<string, unknown>; body: Buffer }> {
    const id = `${this.link.clientId.slice(0, 40)}-${(counter++).toString(36)}`;
    const frame = encodeFrame({ v: 1, id, ...req }, body);
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(id);
        reject(
          new BlobTransferError(
            'timeout',
            `no answer to blob ${req.op} within ${this.timeoutMs / 1000}s`,
          ),
        );
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      const fail = (): void => {
        if (!this.pending.delete(id)) return;
        this.clock.clearTimeout(timer);
        reject(new BlobTransferError('unavailable', 'not connected to a manager'));
      };
      try {
        const sent = this.link.send(blobTopics.request(this.link.clientId), frame);
        if (sent === false) fail();
        else if (sent !== true) sent.catch(fail);
      } catch {
        fail();
      }
    });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
