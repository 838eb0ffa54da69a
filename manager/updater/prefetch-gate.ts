// Holds a rolling update until every node that runs an old task has downloaded the new image (when the cluster stores it).
import { findClusterImage } from '../../shared/images/cluster-image.js';
import { isTerminal, type ServiceRecord } from '../../shared/spec.js';
import { isActiveUpdate, updateSettings } from '../../shared/update-config.js';
import type { ImagePresenceView } from '../images/presence.js';
import type { StoreView } from '../store/store.js';

/** A node that cannot get the image in this long no longer holds the update back. */
export const PREFETCH_TIMEOUT_MS = 10 * 60_000;

export interface PrefetchHold {
  /** The update's status message while it waits. */
  message: string;
}

/**
 * Null when the update may replace tasks now: prefetching is off, the image is not one the
 * cluster stores, every node with an old task has it (or failed to get it, or is not ready),
 * or the wait ran past PREFETCH_TIMEOUT_MS.
 */
export function prefetchHold(
  store: StoreView,
  presence: ImagePresenceView,
  service: ServiceRecord,
  now: number,
): PrefetchHold | null {
  const status = service.updateStatus;
  if (!status || !isActiveUpdate(status)) return null;
  if (!updateSettings(service.spec, status.kind).prefetch) return null;
  if (now - status.startedAt > PREFETCH_TIMEOUT_MS) return null;
  const image = service.spec.task.image;
  const rec = findClusterImage(store.images(), image);
  if (!rec) return null;
  const states = new Map(presence.nodesWith(rec.digest).map((r) => [r.nodeId, r.state]));
  const waiting = new Set<string>();
  for (const t of store.tasksOfService(service.id)) {
    if (!t.nodeId || t.template.image === image) continue;
    if (t.desiredState !== 'running' || isTerminal(t.status.state)) continue;
    const node = store.node(t.nodeId);
    if (!node || node.status !== 'ready') continue;
    if (!rec.platforms.some((p) => p.os === node.os && p.architecture === node.arch)) continue;
    const state = states.get(t.nodeId);
    if (state !== 'loaded' && state !== 'failed') waiting.add(node.name);
  }
  if (waiting.size === 0) return null;
  const names = [...waiting].sort();
  return {
    message: `downloading ${rec.name} to ${names.length} node(s) before replacing tasks: ${names.join(', ')}`,
  };
}
