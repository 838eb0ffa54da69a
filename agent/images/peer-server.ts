// Serves the blobs this board holds to its neighbours over HTTP, to cluster members only (a signed proof of a node certificate).
import http from 'node:http';
import type { BlobStore } from '../../shared/blobs/blob-store.js';
import { isBlobStoreError } from '../../shared/blobs/blob-errors.js';
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { CHUNK_BYTES } from '../../shared/images/blob-protocol.js';
import type { Logger } from '../../shared/log.js';
import { ProofCache } from './proof-cache.js';
import { PEER_PROOF_HEADER, peerBlobPath } from './peer-source.js';

export interface PeerServerDeps {
  store: BlobStore;
  /** The cluster's root key: a peer's certificate must be signed by it. */
  rootPub: string;
  clock: Clock;
  logger: Logger;
}

const PATH = /^\/v1\/blobs\/(sha256:[0-9a-f]{64})$/;

export class PeerServer {
  private server: http.Server | null = null;
  private served = 0;

  /** A neighbour sends the same proof with every chunk for a minute: it is verified once. */
  private readonly proofs: ProofCache;

  constructor(private readonly deps: PeerServerDeps) {
    this.proofs = new ProofCache(deps.rootPub, deps.clock);
  }

  /** Bytes served to neighbours since start. */
  get servedBytes(): number {
    return this.served;
  }

  /** Listens on host:port; resolves with the address neighbours are told, or null when it cannot listen. */
  async listen(host: string, port: number): Promise<string | null> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      this.deps.logger.warn('not serving blobs to neighbours: cannot listen', {
        address: `${host}:${port}`,
        error: errorMessage(e),
      });
      return null;
    }
    this.server = server;
    const addr = server.address();
    const actual = typeof addr === 'object' && addr ? addr.port : port;
    return `${host.includes(':') ? `[${host}]` : host}:${actual}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const fail = (status: number, message: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`${message}\n`);
    };
    const url = new URL(req.url ?? '/', 'http://peer');
    const digest = PATH.exec(url.pathname)?.[1];
    if (req.method !== 'GET' || digest === undefined || url.pathname !== peerBlobPath(digest)) {
      return fail(404, 'not found');
    }
    const proof = req.headers[PEER_PROOF_HEADER];
    const check = typeof proof === 'string' ? this.proofs.check(proof) : 'no proof';
    if (check !== null) return fail(401, `not a member of this cluster: ${check}`);
    const offset = Number(url.searchParams.get('offset') ?? '0');
    const length = Number(url.searchParams.get('length') ?? String(CHUNK_BYTES));
    if (
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      !Number.isSafeInteger(length) ||
      length < 1
    ) {
      return fail(400, 'offset and length must be whole numbers');
    }
    try {
      const bytes = await this.deps.store.readAvailable(
        digest,
        offset,
        Math.min(length, CHUNK_BYTES * 4),
      );
      this.served += bytes.length;
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': String(bytes.length),
      });
      res.end(bytes);
    } catch (e) {
      if (isBlobStoreError(e, 'not-found')) return fail(404, `${digest} is not here`);
      if (isBlobStoreError(e, 'not-yet')) return fail(409, `${digest}: not that far yet`);
      this.deps.logger.warn('could not serve a blob', { digest, error: errorMessage(e) });
      fail(500, 'could not read the blob');
    }
  }
}
