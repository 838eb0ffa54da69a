// The manager's RPC methods for images the cluster stores: parameter schemas and result shapes, merged into shared/api.ts.
import { z } from 'zod';
import { clusterPlatformImageSchema, type ClusterPlatformImage } from './images/cluster-image.js';

const ref = z.string().min(1).max(256);
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>');

export const imageParams = {
  /** Records an image whose blobs were uploaded to the manager answering (the leader). */
  'image.create': z.object({
    name: ref,
    digest,
    index: z.object({ digest, size: z.number().int().nonnegative() }).optional(),
    platforms: z.array(clusterPlatformImageSchema).min(1).max(32),
  }),
  'image.ls': z.object({}).default({}),
  'image.inspect': z.object({ image: ref }),
  /** Refused while a service uses the image, unless forced. */
  'image.rm': z.object({ image: ref, force: z.boolean().default(false) }),
} as const;

export const IMAGE_WRITE_METHODS = ['image.create', 'image.rm'] as const;

/** One node's copy of an image: complete, or how far its download got. */
export interface ImageOnNode {
  node: string;
  bytes: number;
  total: number;
  state: 'downloading' | 'loaded' | 'failed';
  message?: string;
  /** Bytes of it the node received from managers, and from neighbours. */
  fromManager: number;
  fromPeers: number;
}

export interface ImageView {
  /** The record's id; `digest` names the content. */
  id: string;
  name: string;
  digest: string;
  /** Bytes of every distinct blob. */
  size: number;
  /** os/architecture[/variant] of each platform. */
  platforms: string[];
  /** Nodes that report the image, loaded or on its way. */
  nodes: ImageOnNode[];
  createdAt: string;
}

export interface ImageDetail extends ImageView {
  index?: { digest: string; size: number };
  platformImages: ClusterPlatformImage[];
  pushedTo: string;
  /** Services whose spec names this image. */
  usedBy: string[];
  /** The answering manager, and how many of the image's blobs it still lacks. */
  manager: { id: string; missingBlobs: number };
}

export interface ImageResults {
  'image.create': ImageView;
  'image.ls': ImageView[];
  'image.inspect': ImageDetail;
  'image.rm': { id: string; name: string };
}
