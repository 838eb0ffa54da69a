// Attaches to an assigned task the cluster's copy of its image for the node's platform, with the neighbours that hold it.
import {
  findClusterImage,
  platformFor,
  type AssignedImage,
} from '../../shared/images/cluster-image.js';
import type { ImagePresenceView } from '../images/presence.js';
import type { StoreView } from '../store/store.js';

/** Labels that put nodes on one site or LAN: its boards fetch from each other first. */
export const SITE_LABELS = ['site', 'lan'] as const;

const MAX_PEERS = 4;

/**
 * Absent when the image is not in the cluster's store (the agent pulls from a registry, as
 * before) or has no platform for this node (the agent's pull fails with the usual message).
 */
export function clusterImageFor(
  store: StoreView,
  presence: ImagePresenceView | undefined,
  nodeId: string,
  image: string,
): { clusterImage: AssignedImage } | Record<string, never> {
  const rec = findClusterImage(store.images(), image);
  const node = store.node(nodeId);
  if (!rec || !node) return {};
  const platform = platformFor(rec, node.os, node.arch);
  if (!platform) return {};
  const peers = presence ? peersOf(store, presence, nodeId, rec.digest) : [];
  return {
    clusterImage: {
      name: rec.name,
      digest: rec.digest,
      platform,
      ...(peers.length > 0 ? { peers } : {}),
    },
  };
}

/** Ready nodes of the same site that report the image loaded, nearest name first. */
function peersOf(
  store: StoreView,
  presence: ImagePresenceView,
  nodeId: string,
  digest: string,
): AssignedImage['peers'] & object {
  const self = store.node(nodeId);
  const site = siteOf(self?.labels ?? {});
  if (site === undefined) return [];
  const peers: NonNullable<AssignedImage['peers']> = [];
  for (const r of presence.nodesWith(digest)) {
    if (r.nodeId === nodeId || r.state !== 'loaded') continue;
    const peer = store.node(r.nodeId);
    const address = presence.blobServer(r.nodeId);
    if (!peer || peer.status !== 'ready' || !address || siteOf(peer.labels) !== site) continue;
    peers.push({ nodeId: r.nodeId, address });
    if (peers.length >= MAX_PEERS) break;
  }
  return peers;
}

function siteOf(labels: Record<string, string>): string | undefined {
  for (const key of SITE_LABELS) {
    const v = labels[key];
    if (v !== undefined) return `${key}=${v}`;
  }
  return undefined;
}
