// Which nodes hold which cluster images, and how far their downloads got: reported by agents, kept in memory only.
import type { ImageReport } from '../../shared/images/cluster-image.js';

export type NodeImageReport = ImageReport;

/** What the API reads: node id → its images. */
export interface ImagePresenceView {
  nodesWith(digest: string): ReadonlyArray<{ nodeId: string } & NodeImageReport>;
  /** Where a node serves its blobs to neighbours, when it said so. */
  blobServer(nodeId: string): string | undefined;
}

/**
 * The dispatcher feeds every agent's latest report here; a report replaces the node's previous
 * one, and a node that leaves is forgotten. Not written through Raft: progress is chatty and a
 * new leader hears it again within one report period.
 */
export class ImagePresence implements ImagePresenceView {
  private readonly byNode = new Map<string, NodeImageReport[]>();
  private readonly servers = new Map<string, string>();

  /** True when an image completed or failed on the node (its neighbours' peer lists may change). */
  report(nodeId: string, images: NodeImageReport[] | undefined, blobServer?: string): boolean {
    // Downloads' progress changes nobody's peers; a copy that completed or failed does.
    const loaded = (list: NodeImageReport[] | undefined): string =>
      (list ?? [])
        .filter((r) => r.state !== 'downloading')
        .map((r) => `${r.digest}=${r.state}`)
        .sort()
        .join();
    const newServer = blobServer !== undefined && this.servers.get(nodeId) !== blobServer;
    if (blobServer) this.servers.set(nodeId, blobServer);
    if (!images) return newServer;
    const before = loaded(this.byNode.get(nodeId));
    this.byNode.set(nodeId, images);
    return newServer || loaded(images) !== before;
  }

  forget(nodeId: string): void {
    this.byNode.delete(nodeId);
    this.servers.delete(nodeId);
  }

  blobServer(nodeId: string): string | undefined {
    return this.servers.get(nodeId);
  }

  nodesWith(digest: string): Array<{ nodeId: string } & NodeImageReport> {
    const out: Array<{ nodeId: string } & NodeImageReport> = [];
    for (const [nodeId, images] of this.byNode) {
      for (const r of images) if (r.digest === digest) out.push({ nodeId, ...r });
    }
    return out.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }
}
