// A node's assigned tasks, each with the cluster's copy of its image for the node's platform and the neighbours that hold it.
import {
  findClusterImage,
  platformFor,
  type AssignedImage,
  type BlobPeer,
  type ImageRecord,
} from '../../shared/images/cluster-image.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { isTerminal } from '../../shared/spec.js';
import { updateSettings } from '../../shared/update-config.js';
import type { ImagePresenceView } from '../images/presence.js';
import type { StoreView } from '../store/store.js';
import { pinOf, type PinMemo } from './task-files.js';

/** Labels that put nodes on one site or LAN: its boards fetch from each other first. */
export const SITE_LABELS = ['site', 'lan'] as const;

const MAX_PEERS = 4;

/**
 * Absent when the image is not in the cluster's store (the agent pulls from a registry, as
 * before). When the store has it without a platform for this node, why: the agent fails the
 * task rather than run whatever a registry has under that name, unless the service allows a
 * registry fallback.
 */
export function clusterImageFor(
  store: StoreView,
  presence: ImagePresenceView | undefined,
  nodeId: string,
  image: string,
): { clusterImage: AssignedImage } | { clusterImageMissing: string } | Record<string, never> {
  const rec = findClusterImage(store.images(), image);
  const node = store.node(nodeId);
  if (!rec || !node) return {};
  const platform = platformFor(rec, node.os, node.arch);
  if (!platform) return { clusterImageMissing: missingPlatform(rec, `${node.os}/${node.arch}`) };
  const peers = presence ? peersOf(store, presence, nodeId, rec) : [];
  return {
    clusterImage: {
      name: rec.name,
      digest: rec.digest,
      platform,
      ...(peers.length > 0 ? { peers } : {}),
    },
  };
}

/**
 * Neighbours to fetch from before the manager: nodes of the same site that report the image
 * loaded, and otherwise the node's upstream in a chain of the site's nodes that need the image
 * now, by id: the first fetches from the manager, each other one from the node before it,
 * reading chunks as they arrive there. So the uplink carries each layer about once per site,
 * and each board sends what it receives once, instead of one seed serving the whole site.
 */
function peersOf(
  store: StoreView,
  presence: ImagePresenceView,
  nodeId: string,
  rec: ImageRecord,
): BlobPeer[] {
  const self = store.node(nodeId);
  const site = siteOf(self?.labels ?? {});
  if (site === undefined) return [];
  const states = new Map(presence.nodesWith(rec.digest).map((r) => [r.nodeId, r.state]));
  if (states.get(nodeId) === 'loaded') return [];
  const peers: BlobPeer[] = [];
  let upstream: string | undefined;
  for (const peer of store.nodes()) {
    if (peer.id === nodeId || peer.status !== 'ready' || siteOf(peer.labels) !== site) continue;
    const address = presence.blobServer(peer.id);
    if (!address) continue;
    const state = states.get(peer.id);
    if (state === 'loaded') peers.push({ nodeId: peer.id, address });
    else if (
      state !== 'failed' &&
      peer.id < nodeId &&
      (upstream === undefined || peer.id > upstream) &&
      needs(store, peer.id, rec)
    ) {
      upstream = peer.id;
    }
  }
  peers.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  const out = peers.slice(0, MAX_PEERS);
  // The head of the chain (no neighbour with a smaller id needs the image) asks the manager.
  if (out.length === 0 && upstream !== undefined) {
    const address = presence.blobServer(upstream);
    if (address) out.push({ nodeId: upstream, address, seed: true });
  }
  return out;
}

/** Whether a node runs (or is about to run) a task of this image. */
function needs(store: StoreView, nodeId: string, rec: ImageRecord): boolean {
  return store
    .tasksOfNode(nodeId)
    .some(
      (t) =>
        t.desiredState === 'running' &&
        !isTerminal(t.status.state) &&
        findClusterImage([rec], t.template.image) !== undefined,
    );
}

/** "the fleet stores example/app:1 for linux/amd64, linux/arm64 only, not for linux/riscv64". */
export function missingPlatform(
  rec: Pick<ImageRecord, 'name' | 'platforms'>,
  node: string,
): string {
  const has = rec.platforms.map((p) =>
    [p.os, p.architecture, p.variant].filter((v) => v !== undefined).join('/'),
  );
  return `the fleet stores ${rec.name} for ${has.join(', ')} only, not for this node's ${node}`.slice(
    0,
    512,
  );
}

function siteOf(labels: Record<string, string>): string | undefined {
  for (const key of SITE_LABELS) {
    const v = labels[key];
    if (v !== undefined) return `${key}=${v}`;
  }
  return undefined;
}

/**
 * The images this node should download before its tasks are replaced: for each of its live
 * tasks whose service now names another image the cluster stores (an update under way), that
 * image, unless the service turned prefetching off.
 */
export function prefetchFor(
  store: StoreView,
  presence: ImagePresenceView | undefined,
  nodeId: string,
): AssignedImage[] {
  const out = new Map<string, AssignedImage>();
  for (const t of store.tasksOfNode(nodeId)) {
    if (t.desiredState !== 'running' || isTerminal(t.status.state)) continue;
    const service = store.service(t.serviceId);
    if (!service || service.spec.task.image === t.template.image) continue;
    const kind = service.updateStatus?.kind ?? 'update';
    if (!updateSettings(service.spec, kind).prefetch) continue;
    const found = clusterImageFor(store, presence, nodeId, service.spec.task.image);
    if ('clusterImage' in found && found.clusterImage) {
      out.set(found.clusterImage.digest, found.clusterImage);
    }
  }
  return [...out.values()];
}

/** The tasks a node's assignment lists (before files and credentials are sealed in), by id. */
export function assignedTasks(
  store: StoreView,
  presence: ImagePresenceView | undefined,
  nodeId: string,
  pins?: PinMemo,
): AssignedTask[] {
  return store
    .tasksOfNode(nodeId)
    .filter(
      (t) =>
        t.desiredState === 'running' &&
        !isTerminal(t.status.state) &&
        t.status.state !== 'new' &&
        t.status.state !== 'pending',
    )
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((t) => ({
      id: t.id,
      serviceId: t.serviceId,
      serviceName: t.serviceName,
      slot: t.slot,
      template: t.template,
      notBefore: t.notBefore,
      specVersion: t.specVersion,
      ...pinOf(store, t, pins),
      ...clusterImageFor(store, presence, nodeId, t.template.image),
    }));
}
