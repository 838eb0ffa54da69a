// Keeps every blob of every stored image and agent release on this manager: copies what it lacks from the other managers, drops what no record names.
import type { MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import { makeConnectProof, type Identity } from '../../shared/identity.js';
import { BlobClient } from '../../shared/images/blob-client.js';
import { managerBlobClientId } from '../../shared/images/blob-protocol.js';
import { imageBlobs } from '../../shared/images/cluster-image.js';
import { fetchBlob } from '../../shared/images/fetch-blob.js';
import { releaseDigest } from '../../shared/ota/release-record.js';
import type { Logger } from '../../shared/log.js';
import { connectMqttAsync } from '../../shared/transport.js';
import type { StoreView } from '../store/store.js';
import type { BlobService } from './blob-service.js';

export interface ReplicatorDeps {
  selfId: string;
  identity: Identity;
  rootPub: string;
  insecure: boolean;
  store: StoreView;
  blobs: BlobService;
  clock: Clock;
  logger: Logger;
}

const RETRY_MS = 5_000;

interface Peer {
  id: string;
  client: MqttClient;
  blobs: BlobClient;
}

/** Runs on every manager, leader or not: losing one manager must lose no image. */
export class BlobReplicator {
  private readonly peers = new Map<string, Promise<Peer>>();
  private referenced = new Set<string>();
  private running = false;
  private again = false;
  private timer: TimerHandle | undefined;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: ReplicatorDeps) {}

  start(): void {
    this.referenced = new Set(this.wanted().keys());
    this.unsubscribe = this.deps.store.onChange((c) => {
      if (c.images.size > 0 || c.releases.size > 0) this.kick();
    });
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) this.deps.clock.clearTimeout(this.timer);
    for (const p of this.peers.values()) {
      void p.then((peer) => peer.client.endAsync(true)).catch(() => undefined);
    }
    this.peers.clear();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.pass()
      .catch((e: unknown) =>
        this.deps.logger.warn('blob replication pass failed', { error: errorMessage(e) }),
      )
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Every blob named by an image or release record, with its size and the managers to copy it from. */
  private wanted(): Map<string, { size: number; from: string[] }> {
    const out = new Map<string, { size: number; from: string[] }>();
    const want = (digest: string, size: number, pushedTo: string): void => {
      const e = out.get(digest) ?? { size, from: [] };
      if (!e.from.includes(pushedTo)) e.from.push(pushedTo);
      out.set(digest, e);
    };
    for (const rec of this.deps.store.images()) {
      for (const [digest, size] of imageBlobs(rec)) want(digest, size, rec.pushedTo);
    }
    for (const rel of this.deps.store.releases()) {
      want(releaseDigest(rel.manifest), rel.manifest.size, rel.pushedTo);
    }
    return out;
  }

  private async pass(): Promise<void> {
    const wanted = this.wanted();
    await this.dropUnreferenced(wanted);
    let failed = 0;
    for (const [digest, w] of wanted) {
      if (this.stopped) return;
      if (this.deps.blobs.has(digest)) continue;
      if (!(await this.copy(digest, w.size, w.from))) failed++;
    }
    if (failed > 0 && !this.stopped) {
      this.deps.logger.warn('blobs not yet copied from the other managers; retrying', { failed });
      this.timer = this.deps.clock.setTimeout(() => this.kick(), RETRY_MS);
    }
  }

  /** Blobs a record named until a moment ago and none names now: a removed image's layers, a removed release. */
  private async dropUnreferenced(wanted: Map<string, unknown>): Promise<void> {
    const gone = [...this.referenced].filter((d) => !wanted.has(d));
    this.referenced = new Set(wanted.keys());
    for (const digest of gone) {
      await this.deps.blobs.remove(digest).catch((e: unknown) => {
        this.deps.logger.warn('could not remove an unused blob', {
          digest,
          error: errorMessage(e),
        });
      });
    }
  }

  private async copy(digest: string, size: number, preferred: string[]): Promise<boolean> {
    const others = this.deps.store.members().filter((m) => m.id !== this.deps.selfId);
    others.sort((a, b) => Number(preferred.includes(b.id)) - Number(preferred.includes(a.id)));
    for (const m of others) {
      try {
        const peer = await this.peer(m.id, m.address);
        const { hashes, size: there } = await peer.blobs.chunks(digest);
        if (there !== size) continue;
        await fetchBlob({
          store: this.deps.blobs.store,
          digest,
          size,
          hashes,
          sources: [
            {
              name: `manager ${m.id}`,
              kind: 'manager',
              read: async (d, o, l) => (await peer.blobs.get(d, o, l)).bytes,
            },
          ],
        });
        this.deps.blobs.noteStored(digest);
        return true;
      } catch (e) {
        this.deps.logger.debug('blob not copied from a manager', {
          digest,
          from: m.id,
          error: errorMessage(e),
        });
      }
    }
    return false;
  }

  /** One connection per peer manager, as `<id>.blobs` beside the Raft link. */
  private peer(id: string, address: string): Promise<Peer> {
    let p = this.peers.get(id);
    if (!p) {
      p = this.connect(id, address);
      p.catch(() => this.peers.delete(id));
      this.peers.set(id, p);
    }
    return p;
  }

  private async connect(id: string, address: string): Promise<Peer> {
    const { identity, selfId, clock } = this.deps;
    const clientId = managerBlobClientId(selfId);
    const client = await connectMqttAsync(
      address,
      { insecure: this.deps.insecure, pin: { rootPub: this.deps.rootPub }, now: () => clock.now() },
      {
        protocolVersion: 4,
        clientId,
        username: selfId,
        password: makeConnectProof(identity, clientId, clock.now()),
        clean: true,
        keepalive: 10,
        reconnectPeriod: 0,
        connectTimeout: 5_000,
      },
    );
    const blobs = new BlobClient(
      { clientId, send: (t, f) => client.publishAsync(t, f, { qos: 1 }).then(() => undefined) },
      clock,
    );
    client.on('message', (_t, payload) => blobs.deliver(payload));
    client.on('error', () => undefined); // a close follows, and the next pass connects again
    client.on('close', () => {
      blobs.failAll(`lost the connection to manager ${id}`);
      this.peers.delete(id);
    });
    await client.subscribeAsync(blobs.responseTopic, { qos: 1 });
    return { id, client, blobs };
  }
}
