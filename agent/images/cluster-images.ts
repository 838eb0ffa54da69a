// Gets a cluster-stored image into this board's engine: the blobs it lacks from neighbours or a manager, verified, then loaded.
import { isBlobStoreError } from '../../shared/blobs/blob-errors.js';
import type { BlobStore } from '../../shared/blobs/blob-store.js';
import type { Clock } from '../../shared/clock.js';
import { errorMessage } from '../../shared/errors.js';
import type { Bandwidth } from '../../shared/images/bandwidth.js';
import type { BlobClient } from '../../shared/images/blob-client.js';
import type { AssignedImage, ImageReport } from '../../shared/images/cluster-image.js';
import { fetchBlob, type BlobSource } from '../../shared/images/fetch-blob.js';
import type { Logger } from '../../shared/log.js';

/** What loading needs of an engine (the Docker runtime implements it). */
export interface EngineImages {
  /** Whether the engine holds the image whose config has this digest (its image ID). */
  hasImage(configDigest: string): Promise<boolean>;
  /** Points the image's name at the image the engine holds. */
  tag(image: AssignedImage): Promise<void>;
  /** How many leading layers (by diffID) the engine already holds. */
  sharedLayers(diffIds: readonly string[]): Promise<number>;
  /** Loads the image from verified blobs, leaving out the first `skipLayers` layers' files. */
  load(
    image: AssignedImage,
    skipLayers: number,
    blobFile: (digest: string) => string,
  ): Promise<void>;
}

/** Reads blobs from a neighbour's blob server. */
export type PeerSourceFactory = (peer: { nodeId: string; address: string }) => BlobSource;

export interface ClusterImagesDeps {
  store: BlobStore;
  /** The blob channel of the connected manager, or null while there is none. */
  manager: () => BlobClient | null;
  peerSource?: PeerSourceFactory;
  /** This node's download limit (shared by every transfer). */
  bandwidth: Bandwidth;
  clock: Clock;
  logger: Logger;
  /** Called when a report changed: the agent sends a status soon. */
  changed: () => void;
}

export class ClusterImageError extends Error {
  override readonly name = 'ClusterImageError';
}

interface Progress extends ImageReport {
  name: string;
}

export class ClusterImages {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly progress = new Map<string, Progress>();

  constructor(private readonly deps: ClusterImagesDeps) {}

  /** Every image this board holds or is fetching, for the status report. */
  reports(): ImageReport[] {
    return [...this.progress.values()].map(({ name: _name, ...r }) => r);
  }

  isLoaded(image: AssignedImage): boolean {
    return this.progress.get(image.digest)?.state === 'loaded';
  }

  /** Bytes received, by the kind of source. */
  received(): { fromManager: number; fromPeers: number } {
    let fromManager = 0;
    let fromPeers = 0;
    for (const p of this.progress.values()) {
      fromManager += p.fromManager;
      fromPeers += p.fromPeers;
    }
    return { fromManager, fromPeers };
  }

  /** Resolves once the engine has the image under its name; one fetch per image at a time. */
  ensure(image: AssignedImage, engine: EngineImages): Promise<void> {
    const key = `${image.digest}/${image.platform.configDigest}`;
    let p = this.inFlight.get(key);
    if (!p) {
      p = this.fetchAndLoad(image, engine).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  private async fetchAndLoad(image: AssignedImage, engine: EngineImages): Promise<void> {
    const { platform } = image;
    if (await engine.hasImage(platform.configDigest)) {
      await engine.tag(image);
      const total = platform.configSize + platform.layers.reduce((a, l) => a + l.size, 0);
      this.note(image, { bytes: total, total, state: 'loaded' });
      return;
    }
    const skip = await engine.sharedLayers(platform.layers.map((l) => l.diffId));
    const needed = [
      { digest: platform.configDigest, size: platform.configSize },
      ...platform.layers.slice(skip).map((l) => ({ digest: l.digest, size: l.size })),
    ];
    const total = needed.reduce((a, b) => a + b.size, 0);
    const p = this.note(image, { bytes: 0, total, state: 'downloading' });
    // A neighbour that failed once is not asked again for this image's other blobs.
    const badPeers = new Set<string>();
    try {
      for (const blob of needed) {
        if (await this.deps.store.has(blob.digest)) {
          p.bytes += blob.size;
          continue;
        }
        await this.fetchOne(image, blob, p, badPeers);
      }
      await engine.load(image, skip, (d) => this.deps.store.pathOf(d));
      this.note(image, { bytes: total, total, state: 'loaded' });
      this.deps.logger.info('image loaded from the cluster', {
        image: image.name,
        bytes: total,
        fromManager: p.fromManager,
        fromPeers: p.fromPeers,
      });
    } catch (e) {
      // Said plainly: the board's own disk, not the manager's; the bytes kept resume later.
      const full = isBlobStoreError(e, 'disk-full') ? "this node's disk is full: " : '';
      const message = `${full}${errorMessage(e)}`;
      this.note(image, { state: 'failed', message: message.slice(0, 500) });
      throw new ClusterImageError(`could not get ${image.name} from the cluster: ${message}`);
    }
  }

  private async fetchOne(
    image: AssignedImage,
    blob: { digest: string; size: number },
    p: Progress,
    badPeers: Set<string>,
  ): Promise<void> {
    const manager = this.deps.manager();
    if (!manager) throw new Error('not connected to a manager');
    const { hashes, size } = await manager.chunks(blob.digest);
    if (size !== blob.size) {
      throw new Error(
        `the manager holds ${blob.digest} with ${size} bytes, the image says ${blob.size}`,
      );
    }
    const start = await this.deps.store.uploadedBytes(blob.digest);
    p.bytes += start;
    const sources: BlobSource[] = [];
    for (const peer of image.peers ?? []) {
      if (this.deps.peerSource && !badPeers.has(peer.nodeId)) {
        sources.push(this.deps.peerSource(peer));
      }
    }
    sources.push(this.managerSource(manager));
    await fetchBlob({
      store: this.deps.store,
      digest: blob.digest,
      size: blob.size,
      hashes,
      sources,
      onChunk: (source, bytes) => {
        p.bytes += bytes;
        if (source.kind === 'peer') p.fromPeers += bytes;
        else p.fromManager += bytes;
        this.changedSoon();
      },
      onDamaged: (chunk, kept, had) => {
        p.bytes -= had - kept;
        this.deps.logger.warn('a download kept on disk was damaged; fetching it again from there', {
          digest: blob.digest,
          chunk,
          kept,
          had,
        });
      },
      onBadSource: (source, why) => {
        if (source.id !== undefined) badPeers.add(source.id);
        this.deps.logger.warn('blob source skipped', { source: source.name, why });
      },
      sleep: (ms) => this.deps.clock.sleep(ms),
    });
  }

  /** One blob from a manager into the store (an agent release's bundle); returns its file. */
  async fetchFile(digest: string, size: number): Promise<string> {
    const manager = this.deps.manager();
    if (!manager) throw new Error('not connected to a manager');
    const chunks = await manager.chunks(digest);
    if (chunks.size !== size)
      throw new Error(`the manager holds ${digest} with ${chunks.size} bytes, expected ${size}`);
    const store = this.deps.store;
    const sleep = (ms: number): Promise<void> => this.deps.clock.sleep(ms);
    const sources = [this.managerSource(manager)];
    await fetchBlob({ store, digest, size, hashes: chunks.hashes, sources, sleep });
    return store.pathOf(digest);
  }

  private managerSource(client: BlobClient): BlobSource {
    const { bandwidth } = this.deps;
    return {
      name: 'manager',
      kind: 'manager',
      read: async (digest, offset, length) => {
        await bandwidth.take(length);
        return (await client.get(digest, offset, length)).bytes;
      },
    };
  }

  private note(image: AssignedImage, patch: Partial<Progress>): Progress {
    const key = image.digest;
    const prev = this.progress.get(key);
    const next: Progress = {
      digest: image.digest,
      name: image.name,
      bytes: 0,
      total: 0,
      state: 'downloading',
      fromManager: prev?.fromManager ?? 0,
      fromPeers: prev?.fromPeers ?? 0,
      ...prev,
      ...patch,
    };
    if (patch.state && patch.state !== 'failed') delete next.message;
    this.progress.set(key, next);
    this.deps.changed();
    return next;
  }

  private lastChange = 0;

  /** Progress goes out at most once a second. */
  private changedSoon(): void {
    const now = this.deps.clock.now();
    if (now - this.lastChange < 1_000) return;
    this.lastChange = now;
    this.deps.changed();
  }
}
