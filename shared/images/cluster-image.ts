// The images the cluster stores itself: per platform a config and layers as sha256 blobs, and the record kept through Raft.
import { z } from 'zod';
import { parseImageReference } from '../image-ref.js';

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>');

/** One layer as stored: a plain or gzip tar, and the sha256 of the plain tar (the diffID). */
export interface ClusterLayer {
  digest: string;
  size: number;
  mediaType: string;
  diffId: string;
}

/** One platform's image: the blobs a node of that platform loads, base layer first. */
export interface ClusterPlatformImage {
  /** The OCI manifest of this platform (written by the pushing CLI for a docker-save image). */
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  configSize: number;
  layers: ClusterLayer[];
  os: string;
  architecture: string;
  variant?: string;
}

/** A name (repository:tag) the cluster serves, and the content it names. */
export interface ImageRecord {
  /** The record's own id (one per name). */
  id: string;
  name: string;
  /** The content: the index digest of a multi-platform image, else its one manifest digest. */
  digest: string;
  /** The OCI index of a multi-platform image, kept as a blob like the rest. */
  index?: { digest: string; size: number };
  platforms: ClusterPlatformImage[];
  /** Bytes of every distinct blob, all platforms together. */
  size: number;
  /** The manager that took the upload: the first place its blobs live. */
  pushedTo: string;
  createdAt: number;
}

export const clusterLayerSchema = z.object({
  digest,
  size: z.number().int().nonnegative(),
  mediaType: z.string().min(1).max(256),
  diffId: digest,
});

export const clusterPlatformImageSchema = z.object({
  manifestDigest: digest,
  manifestSize: z.number().int().nonnegative(),
  configDigest: digest,
  configSize: z.number().int().nonnegative(),
  layers: z.array(clusterLayerSchema).max(256),
  os: z.string().min(1).max(64),
  architecture: z.string().min(1).max(64),
  variant: z.string().min(1).max(64).optional(),
});

/** Every distinct blob of an image: index, manifests, configs and layers. */
export function imageBlobs(rec: Pick<ImageRecord, 'index' | 'platforms'>): Map<string, number> {
  const blobs = new Map<string, number>();
  if (rec.index) blobs.set(rec.index.digest, rec.index.size);
  for (const p of rec.platforms) {
    blobs.set(p.manifestDigest, p.manifestSize);
    blobs.set(p.configDigest, p.configSize);
    for (const l of p.layers) blobs.set(l.digest, l.size);
  }
  return blobs;
}

/** The platform a node of this architecture runs (its variant ignored when only one matches). */
export function platformFor(
  rec: Pick<ImageRecord, 'platforms'>,
  os: string,
  architecture: string,
): ClusterPlatformImage | undefined {
  return rec.platforms.find((p) => p.os === os && p.architecture === architecture);
}

/** The name a record is kept under: `repository:tag` as Docker prints it; null for a digest-only reference. */
export function clusterImageName(ref: string): string | null {
  const r = parseImageReference(ref);
  return r.tag === null ? null : `${r.repository}:${r.tag}`;
}

/** The record a service's image reference runs: by name, or `repo@digest` naming a record's content. */
export function findClusterImage<T extends Pick<ImageRecord, 'name' | 'digest'>>(
  images: Iterable<T>,
  ref: string,
): T | undefined {
  const parsed = parseImageReference(ref);
  const name = clusterImageName(ref);
  for (const rec of images) {
    if (parsed.digest !== null) {
      if (
        rec.digest === parsed.digest &&
        parseImageReference(rec.name).repository === parsed.repository
      )
        return rec;
    } else if (rec.name === name) return rec;
  }
  return undefined;
}

/**
 * How a running task's status message begins its note when the registry stood in for the
 * fleet's copy (--registry-fallback): `running (image pulled from the registry: <why>)`.
 */
export const REGISTRY_FALLBACK_NOTE = 'image pulled from the registry';

/** Where a neighbour serves the blobs it holds (its agent's blob server). */
export const blobPeerSchema = z.object({
  nodeId: z.string().max(64),
  /** HOST:PORT of the peer's blob server. */
  address: z.string().max(300),
  /** It is fetching the image now (from a manager or its own upstream): wait for it rather than fetch the same bytes. */
  seed: z.boolean().optional(),
});
export type BlobPeer = z.infer<typeof blobPeerSchema>;

/** What an assigned task carries when its image is in the cluster's store: this node's platform. */
export const assignedImageSchema = z.object({
  name: z.string().max(256),
  /** The record's content digest, reported back with the node's progress. */
  digest,
  platform: clusterPlatformImageSchema,
  /** Nodes on this node's site that hold (some of) the image, tried before the manager. */
  peers: z.array(blobPeerSchema).max(16).optional(),
});
export type AssignedImage = z.infer<typeof assignedImageSchema>;

/** One image as an agent reports it in its status: loaded, or how far its download got. */
export const imageReportSchema = z.object({
  digest,
  bytes: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  state: z.enum(['downloading', 'loaded', 'failed']),
  message: z.string().max(512).optional(),
  /** Bytes of this image received from the manager and from peers. */
  fromManager: z.number().int().nonnegative().default(0),
  fromPeers: z.number().int().nonnegative().default(0),
});
export type ImageReport = z.infer<typeof imageReportSchema>;
