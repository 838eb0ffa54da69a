// Whether a task's image is pulled before it starts, and which reference the container runs: pure, no I/O.
import { isDigestReference, pinnedReference } from '../../../shared/image-ref.js';

export interface PullFacts {
  /** The image the spec names. */
  image: string;
  /** The digest the manager pinned for this spec version, once a board resolved it. */
  pinned: string | null;
  /** The local image the name points to: its digests, or null when there is none. */
  local: { digest: string | null } | null;
  /** Whether the pinned content is here already (a local image with that repo digest). */
  pinnedLocal: boolean;
  /** Whether this board already pulled the image for this service's spec version. */
  pulledForVersion: boolean;
}

export interface PullPlan {
  /** The reference to pull, or null to use what is local. */
  pull: string | null;
  /** The reference the container is created from. */
  run: string;
  /** Whether a local image may stand in when the pull fails (an offline board). */
  localFallback: boolean;
}

/**
 * A tag moves; a digest does not. A tag is pulled again once per spec version (create, update,
 * --force), so a push followed by an update runs the new content, while a restart of the same
 * version uses what the board has and needs no network. A pinned digest is used as is. An
 * image with no digest of its repository was built or imported here: no registry has it.
 */
export function planPull(f: PullFacts): PullPlan {
  if (isDigestReference(f.image)) {
    return { pull: f.local ? null : f.image, run: f.image, localFallback: false };
  }
  if (f.pinned !== null) {
    const ref = pinnedReference(f.image, f.pinned);
    if (f.pinnedLocal) return { pull: null, run: ref, localFallback: false };
    return { pull: ref, run: ref, localFallback: f.local !== null };
  }
  if (f.local === null) return { pull: f.image, run: f.image, localFallback: false };
  if (f.local.digest === null || f.pulledForVersion) {
    return { pull: null, run: f.image, localFallback: false };
  }
  return { pull: f.image, run: f.image, localFallback: true };
}
