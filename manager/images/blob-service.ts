// Serves the blob channel on a manager's broker: uploads from admins, chunk reads for agents and peer managers.
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { Bandwidth } from '../../shared/images/bandwidth.js';
import { PREFIX } from '../../shared/protocol.js';
import {
  CHUNK_BYTES,
  blobRequestSchema,
  blobTopicClient,
  blobTopics,
  decodeFrame,
  encodeFrame,
  type BlobRequest,
  type BlobResponse,
  type BlobStat,
} from '../../shared/images/blob-protocol.js';
import type { BlobStore } from '../../shared/blobs/blob-store.js';
import { chunkHashes } from '../../shared/blobs/chunk-hashes.js';
import { isBlobStoreError } from '../../shared/blobs/blob-errors.js';
import type { Logger } from '../../shared/log.js';
import { RateLimitedLog } from '../../shared/rate-limited-log.js';
import type { Broker } from '../broker/broker.js';
import type { Principal } from '../broker/acl.js';

export interface BlobServiceDeps {
  broker: Broker;
  blobs: BlobStore;
  clock: Clock;
  logger: Logger;
  /** The manager's uplink for blob reads, shared by every node it serves (0: no limit). */
  maxBandwidth: number;
}

/** Bytes this manager sent as blob chunks, per node (or admin) that asked. */
export interface BlobTraffic {
  total: number;
  byClient: ReadonlyMap<string, number>;
}

/**
 * One instance per manager. Keeps the set of stored digests in memory so the RPC handlers,
 * which are synchronous, can check that an image's blobs are here before its record commits.
 */
export class BlobService {
  private readonly present = new Set<string>();
  private readonly uplink: Bandwidth;
  private readonly sentTo = new Map<string, number>();
  private readonly complaints: RateLimitedLog;
  private readonly listeners = new Set<(digest: string) => void>();
  private stopHandler: (() => void) | null = null;

  private constructor(private readonly deps: BlobServiceDeps) {
    this.uplink = new Bandwidth(deps.clock, deps.maxBandwidth);
    this.complaints = new RateLimitedLog(deps.logger, 5_000, deps.clock);
  }

  static async start(deps: BlobServiceDeps): Promise<BlobService> {
    const service = new BlobService(deps);
    for (const b of await deps.blobs.list()) service.present.add(b.digest);
    service.stopHandler = deps.broker.onMessage(`${PREFIX}/blobs/`, (topic, payload, p, cid) => {
      void service.handle(topic, payload, p, cid);
    });
    return service;
  }

  stop(): void {
    this.stopHandler?.();
    this.stopHandler = null;
  }

  has(digest: string): boolean {
    return this.present.has(digest);
  }

  get store(): BlobStore {
    return this.deps.blobs;
  }

  traffic(): BlobTraffic {
    return { total: this.uplink.total, byClient: this.sentTo };
  }

  /** Calls `fn` with each digest stored from now on (an upload, or a copy from a peer). */
  onStored(fn: (digest: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Records a blob that arrived by another path (a copy from a peer manager). */
  noteStored(digest: string): void {
    this.present.add(digest);
    for (const fn of this.listeners) fn(digest);
  }

  /** Removes a blob no image names any more. */
  async remove(digest: string): Promise<void> {
    this.present.delete(digest);
    await this.deps.blobs.remove(digest);
  }

  private async handle(
    topic: string,
    payload: Buffer,
    principal: Principal | undefined,
    clientId: string | null | undefined,
  ): Promise<void> {
    if (!clientId || blobTopicClient(topic, 'req') !== clientId) return;
    const d = decodeFrame(blobRequestSchema, payload);
    if (!d.ok) {
      this.complaints.warn(`blob:${clientId}`, 'dropped blob request', {
        clientId,
        reason: d.reason,
      });
      return;
    }
    const req = d.header;
    const reply = (res: BlobResponse, body?: Uint8Array): void => {
      this.deps.broker
        .publish(blobTopics.response(clientId), encodeFrame(res, body), { qos: 1 })
        .catch((e: unknown) => {
          this.deps.logger.warn('could not send blob reply', { clientId, error: errorMessage(e) });
        });
    };
    const fail = (code: string, message: string, resumeAt?: number): void =>
      reply({
        v: 1,
        id: req.id,
        ok: false,
        error: { code, message, ...(resumeAt === undefined ? {} : { resumeAt }) },
      });
    const writer = principal?.kind === 'admin';
    if (!principal || principal.kind === 'join') return fail('not_authorized', 'not authorized');
    if ((req.op === 'put' || req.op === 'complete') && !writer) {
      return fail('not_authorized', 'only an admin may upload blobs');
    }
    try {
      await this.serve(req, d.body, clientId, reply);
    } catch (e) {
      if (isBlobStoreError(e)) {
        return fail(e.problem.replace(/-/g, '_'), e.message, e.uploadedBytes);
      }
      this.deps.logger.error('blob request failed', { op: req.op, error: errorMessage(e) });
      fail('internal', `${req.op} failed: ${errorMessage(e)}`);
    }
  }

  private async serve(
    req: BlobRequest,
    body: Buffer,
    clientId: string,
    reply: (res: BlobResponse, body?: Uint8Array) => void,
  ): Promise<void> {
    const { blobs } = this.deps;
    switch (req.op) {
      case 'stat': {
        const stats: BlobStat[] = [];
        for (const digest of req.digests) {
          const size = this.present.has(digest) ? await blobs.size(digest).catch(() => null) : null;
          stats.push({
            digest,
            size,
            uploaded: size === null ? await blobs.uploadedBytes(digest) : 0,
          });
        }
        return reply({ v: 1, id: req.id, ok: true, stats });
      }
      case 'put': {
        const size = await blobs.writeChunk(req.digest, req.offset, body);
        return reply({ v: 1, id: req.id, ok: true, size });
      }
      case 'complete': {
        const stored = await blobs.complete(req.digest);
        this.noteStored(req.digest);
        return reply({ v: 1, id: req.id, ok: true, stored });
      }
      case 'get': {
        const size = await blobs.size(req.digest);
        const length = Math.max(0, Math.min(req.length, size - req.offset));
        await this.uplink.take(length);
        const bytes = await blobs.readRange(req.digest, req.offset, length);
        this.sentTo.set(clientId, (this.sentTo.get(clientId) ?? 0) + bytes.length);
        return reply({ v: 1, id: req.id, ok: true, size }, bytes);
      }
      case 'chunks': {
        const size = await blobs.size(req.digest);
        const hashes = await chunkHashes(blobs, req.digest, CHUNK_BYTES);
        if (hashes.length > CHUNK_BYTES) {
          throw new Error(`blob ${req.digest} of ${size} bytes has too many chunks to list`);
        }
        return reply({ v: 1, id: req.id, ok: true, size }, hashes);
      }
    }
  }
}
