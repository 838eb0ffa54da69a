// The agent's image side: its blob store, its blob channel to the manager, and the cluster images it fetches.
import path from 'node:path';
import { BlobStore } from '../../shared/blobs/blob-store.js';
import type { Clock } from '../../shared/clock.js';
import { Bandwidth } from '../../shared/images/bandwidth.js';
import { BlobClient } from '../../shared/images/blob-client.js';
import type { AssignedImage, ImageReport } from '../../shared/images/cluster-image.js';
import type { Logger } from '../../shared/log.js';
import { ClusterImages, type EngineImages, type PeerSourceFactory } from './cluster-images.js';

export interface AgentImagesDeps {
  dataDir: string;
  /** The agent's MQTT client id, and its publish (QoS 1). */
  clientId: () => string;
  publish: (topic: string, payload: Buffer) => boolean;
  clock: Clock;
  logger: Logger;
  /** Bytes per second this board downloads images at, at most (0: no limit). */
  maxBandwidth: number;
  peerSource?: PeerSourceFactory;
  /** A report changed: send a status soon. */
  changed: () => void;
}

/** What a runtime asks for a task whose image the cluster stores. */
export interface ClusterImageProvider {
  ensure(image: AssignedImage, engine: EngineImages): Promise<void>;
}

export class AgentImages implements ClusterImageProvider {
  readonly client: BlobClient;
  private images: ClusterImages | null = null;
  private connected = false;

  constructor(private readonly deps: AgentImagesDeps) {
    this.client = new BlobClient(
      { get clientId() { return deps.clientId(); }, send: (topic, frame) => deps.publish(topic, frame) },
      deps.clock,
    );
  }

  /** Opens the blob store in DATA_DIR/images: uploads cut short by a restart resume from there. */
  async start(): Promise<BlobStore> {
    const store = await BlobStore.open(path.join(this.deps.dataDir, 'images'));
    this.images = new ClusterImages({
      store,
      manager: () => (this.connected ? this.client : null),
      ...(this.deps.peerSource ? { peerSource: this.deps.peerSource } : {}),
      bandwidth: new Bandwidth(this.deps.clock, this.deps.maxBandwidth),
      clock: this.deps.clock,
      logger: this.deps.logger,
      changed: this.deps.changed,
    });
    return store;
  }

  onConnected(): void {
    this.connected = true;
  }

  onDisconnected(): void {
    this.connected = false;
    this.client.failAll('lost the connection to the manager');
  }

  ensure(image: AssignedImage, engine: EngineImages): Promise<void> {
    if (!this.images) return Promise.reject(new Error('the image store is not open yet'));
    return this.images.ensure(image, engine);
  }

  reports(): ImageReport[] {
    return this.images?.reports() ?? [];
  }
}
