// Reads blob chunks from a neighbour's blob server, proving with this node's certificate that it belongs to the cluster.
import http from 'node:http';
import type { Clock } from '../../shared/clock.js';
import { makeConnectProof, type Identity } from '../../shared/identity.js';
import { NotYetError, type BlobSource } from '../../shared/images/fetch-blob.js';
import type { BlobPeer } from '../../shared/images/cluster-image.js';

export const PEER_PROOF_HEADER = 'x-fleet-proof';
/** What the proof signs: the same proof of key possession the broker checks, for this purpose. */
export const PEER_PROOF_SUBJECT = 'fleet-blob-peer';
/** A proof is made again after this long (the server accepts it for the clock skew allowed). */
const PROOF_REUSE_MS = 60_000;
const TIMEOUT_MS = 10_000;

class PeerHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const peerBlobPath = (digest: string): string => `/v1/blobs/${digest}`;

export class PeerSources {
  private proof: { text: string; at: number } | null = null;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  constructor(
    private readonly identity: () => Identity,
    private readonly clock: Clock,
  ) {}

  /**
   * A seed is a neighbour fetching the same image from the manager right now: what it lacks
   * (404, 409) it will have soon. Any other peer answers 409 only for a layer under way.
   */
  source(peer: BlobPeer): BlobSource {
    return {
      name: `peer ${peer.nodeId}`,
      id: peer.nodeId,
      kind: 'peer',
      read: async (digest, offset, length) => {
        try {
          return await this.read(peer.address, digest, offset, length);
        } catch (e) {
          const status = e instanceof PeerHttpError ? e.status : 0;
          if (status === 409 || (status === 404 && peer.seed === true)) {
            throw new NotYetError(`${peer.nodeId} has no ${digest} at ${offset} yet`);
          }
          throw e;
        }
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }

  private proofHeader(): string {
    const now = this.clock.now();
    if (!this.proof || now - this.proof.at > PROOF_REUSE_MS) {
      const text = makeConnectProof(this.identity(), PEER_PROOF_SUBJECT, now);
      this.proof = { text: Buffer.from(text).toString('base64'), at: now };
    }
    return this.proof.text;
  }

  private read(
    address: string,
    digest: string,
    offset: number,
    length: number,
  ): Promise<Uint8Array> {
    const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(address);
    if (!m) return Promise.reject(new Error(`bad peer address ${address}`));
    const [, host, port] = m;
    return new Promise((resolve, reject) => {
      const req = http.get(
        {
          host,
          port: Number(port),
          path: `${peerBlobPath(digest)}?offset=${offset}&length=${length}`,
          agent: this.agent,
          headers: { [PEER_PROOF_HEADER]: this.proofHeader() },
          timeout: TIMEOUT_MS,
        },
        (res) => {
          const parts: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > length) req.destroy(new Error(`peer sent more than ${length} bytes`));
            else parts.push(c);
          });
          res.on('end', () => {
            const body = Buffer.concat(parts);
            if (res.statusCode === 200) resolve(body);
            else
              reject(
                new PeerHttpError(
                  res.statusCode ?? 0,
                  `HTTP ${res.statusCode}: ${body.toString('utf8').trim().slice(0, 200)}`,
                ),
              );
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000}s`)));
      req.on('error', reject);
    });
  }
}
