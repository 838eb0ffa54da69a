// The agent's image side: its blob store, its blob channel to the manager, and the cluster images it fetches.
import path from 'node:path';
import { BlobStore } from '../../shared/blobs/blob-store.js';
import type { Clock } from '../../shared/clock.js';
import { Bandwidth } from '../../shared/images/bandwidth.js';
import { BlobClient } from '../../shared/images/blob-client.js';
import type { AssignedImage, ImageReport } from '../../shared/images/cluster-image.js';
import type { Logger } from '../../shared/log.js';
import type { Identity } from '../../shared/identity.js';
import { ClusterImages, type EngineImages } from './cluster-images.js';
import { PeerServer } from './peer-server.js';
import { PeerSources } from './peer-source.js';

export interface AgentImagesDeps {
  dataDir: string;
  /** The agent's MQTT client id, and its publish (QoS 1). */
  clientId: () => string;
  publish: (topic: string, payload: Buffer) => boolean;
  clock: Clock;
  logger: Logger;
  /** Bytes per second this board downloads images at, at most (0: no limit). */
  maxBandwidth: number;
  /** This node's identity: its certificate opens neighbours' blob servers. */
  identity: () => Identity;
  /** Where this node serves its blobs to neighbours (its address, and a port; null: not at all). */
  peerListen: { host: string; port: number } | null;
  /** A report changed: send a status soon. */
  changed: () => void;
}

/** What a runtime asks for a task whose image the cluster stores. */
export interface ClusterImageProvider {
  ensure(image: AssignedImage, engine: EngineImages): Promise<void>;
  /** Whether this agent loaded the image already (since it started). */
  isLoaded(image: AssignedImage): boolean;
}

export class AgentImages implements ClusterImageProvider {
  readonly client: BlobClient;
  private images: ClusterImages | null = null;
  private connected = false;
  private peerServer: PeerServer | null = null;
  private readonly peers: PeerSources;
  /** HOST:PORT of this node's blob server once it listens. */
  blobServer: string | undefined;

  constructor(private readonly deps: AgentImagesDeps) {
    this.client = new BlobClient(
      {
        get clientId() {
          return deps.clientId();
        },
        send: (topic, frame) => deps.publish(topic, frame),
      },
      deps.clock,
    );
    this.peers = new PeerSources(deps.identity, deps.clock);
  }

  /** Opens the blob store in DATA_DIR/images: uploads cut short by a restart resume from there. */
  async start(): Promise<BlobStore> {
    const store = await BlobStore.open(path.join(this.deps.dataDir, 'images'));
    this.images = new ClusterImages({
      store,
      manager: () => (this.connected ? this.client : null),
      peerSource: (peer) => this.peers.source(peer),
      bandwidth: new Bandwidth(this.deps.clock, this.deps.maxBandwidth),
      clock: this.deps.clock,
      logger: this.deps.logger,
      changed: this.deps.changed,
    });
    const listen = this.deps.peerListen;
    if (listen) {
      this.peerServer = new PeerServer({
        store,
        rootPub: this.deps.identity().rootPub,
        clock: this.deps.clock,
        logger: this.deps.logger.child('peers'),
      });
      this.blobServer = (await this.peerServer.listen(listen.host, listen.port)) ?? undefined;
    }
    return store;
  }

  async close(): Promise<void> {
    this.peers.close();
    await this.peerServer?.close();
  }

  /** Bytes served to neighbours since start. */
  get servedToPeers(): number {
    return this.peerServer?.servedBytes ?? 0;
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

  /** A blob from the managers, verified, as a file of this board's store (a release bundle). */
  fetchFile(digest: string, size: number): Promise<string> {
    if (!this.images) return Promise.reject(new Error('the image store is not open yet'));
    return this.images.fetchFile(digest, size);
  }

  isLoaded(image: AssignedImage): boolean {
    return this.images?.isLoaded(image) ?? false;
  }

  reports(): ImageReport[] {
    return this.images?.reports() ?? [];
  }
}
