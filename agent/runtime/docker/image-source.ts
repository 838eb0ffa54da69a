// Where a task's image comes from: the fleet's copy, the registry as before, or the registry standing in for the fleet's copy; pure, no I/O.
import {
  REGISTRY_FALLBACK_NOTE,
  type AssignedImage,
} from '../../../shared/images/cluster-image.js';
import type { AssignedTask } from '../../../shared/protocol.js';

export type ImageSource =
  /** The fleet stores it for this node; `fallback`: the registry may stand in if that fails. */
  | { from: 'cluster'; image: AssignedImage; fallback: boolean }
  /** Not stored by the fleet (or no cluster images on this agent): pulled or local, as before. */
  | { from: 'registry' }
  /** The fleet stores it but cannot serve this node, and the service allows the registry. */
  | { from: 'fallback'; why: string }
  /** The fleet stores it but cannot serve this node: the task fails, no registry is asked. */
  | { from: 'none'; why: string };

/**
 * A cluster-stored image never comes from a registry unless the service asked for
 * --registry-fallback: a registry may hold different content under the same name.
 */
export function imageSourceOf(
  task: Pick<AssignedTask, 'template' | 'clusterImage' | 'clusterImageMissing'>,
  clusterImages: boolean,
): ImageSource {
  const fallback = task.template.registryFallback === true;
  if (task.clusterImage && clusterImages) {
    return { from: 'cluster', image: task.clusterImage, fallback };
  }
  if (task.clusterImageMissing !== undefined) {
    const why = task.clusterImageMissing;
    return fallback ? { from: 'fallback', why } : { from: 'none', why };
  }
  if (task.clusterImage) {
    // An agent without an image store (none is open): the fleet's copy cannot be had here.
    const why = 'this agent has no store for cluster images';
    return fallback ? { from: 'fallback', why } : { from: 'none', why };
  }
  return { from: 'registry' };
}

/** What the task's status says when the registry stood in: `running (<note>)`. */
export function fallbackNote(why: string): string {
  return `${REGISTRY_FALLBACK_NOTE}: ${why}`.slice(0, 400);
}

/** What the task's status says when the fleet's copy ran and the registry was allowed. */
export const CLUSTER_NOTE = "image from the fleet's store";

/** The error of a fallback whose pull failed too: both reasons. */
export function fallbackFailed(why: string, pullReason: string): string {
  return `the fleet's copy could not be used (${why}) and the registry fallback failed: ${pullReason}`;
}
