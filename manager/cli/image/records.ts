// Turns an image archive's description into what the cluster stores: per platform its blobs and diffIDs, and a manifest where the archive has none.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type {
  ArchiveImage,
  BlobRef,
  PlatformImage,
} from '../../../shared/image-archive/description.js';
import { MEDIA } from '../../../shared/image-archive/description.js';
import type { ClusterPlatformImage } from '../../../shared/images/cluster-image.js';

/** Where a blob's bytes are: a range of the archive file, or bytes made here (a manifest). */
export type BlobOrigin = { file: BlobRef } | { bytes: Buffer };

export interface ImageToPush {
  name: string;
  /** The index digest of a multi-platform image, else its one manifest digest. */
  digest: string;
  index?: { digest: string; size: number };
  platforms: ClusterPlatformImage[];
  /** Every blob the image needs, by digest. */
  blobs: Map<string, { size: number; origin: BlobOrigin }>;
}

const ConfigRootfs = z.object({
  rootfs: z.object({
    type: z.string(),
    diff_ids: z.array(z.string().regex(/^sha256:[0-9a-f]{64}$/)),
  }),
});

/** Reads the config of one platform (small JSON) from the archive. */
export type ReadConfig = (config: BlobRef) => Promise<Buffer>;

export class PushError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PushError';
  }
}

/** One record per tag of the image; an untagged image is refused with the reason. */
export async function imagesToPush(
  image: ArchiveImage,
  readConfig: ReadConfig,
): Promise<ImageToPush[]> {
  if (image.tags.length === 0) {
    throw new PushError(
      'the archive holds an image without a name (tag): tag it and save it again',
    );
  }
  const blobs = new Map<string, { size: number; origin: BlobOrigin }>();
  const platforms: ClusterPlatformImage[] = [];
  for (const p of image.platforms) platforms.push(await platformToPush(p, readConfig, blobs));
  if (platforms.length === 0)
    throw new PushError(`${image.tags.join(', ')}: no platform image in the archive`);
  let digest: string;
  let index: ImageToPush['index'];
  if (image.index) {
    blobs.set(image.index.digest, { size: image.index.size, origin: { file: image.index } });
    index = { digest: image.index.digest, size: image.index.size };
    digest = image.index.digest;
  } else {
    digest = platforms[0]?.manifestDigest ?? '';
  }
  return image.tags.map((name) => ({
    name,
    digest,
    ...(index ? { index } : {}),
    platforms,
    blobs,
  }));
}

async function platformToPush(
  p: PlatformImage,
  readConfig: ReadConfig,
  blobs: ImageToPush['blobs'],
): Promise<ClusterPlatformImage> {
  const what = `${p.platform.os}/${p.platform.architecture}`;
  const parsed = ConfigRootfs.safeParse(JSON.parse((await readConfig(p.config)).toString('utf8')));
  if (!parsed.success) throw new PushError(`the ${what} image config has no rootfs.diff_ids`);
  const diffIds = parsed.data.rootfs.diff_ids;
  if (diffIds.length !== p.layers.length) {
    throw new PushError(
      `the ${what} image config lists ${diffIds.length} layers but its manifest ${p.layers.length}`,
    );
  }
  // An uncompressed layer's digest is its diff ID: a changed layer would only fail at docker load.
  for (const [i, l] of p.layers.entries()) {
    const diffId = diffIds[i];
    if (
      (l.mediaType === MEDIA.dockerLayer || l.mediaType === MEDIA.ociLayer) &&
      l.digest !== diffId
    ) {
      throw new PushError(
        `layer ${i + 1} of the ${what} image (${l.path}) does not match the diff ID its config names: got ${l.digest}, want ${diffId}`,
      );
    }
  }
  blobs.set(p.config.digest, { size: p.config.size, origin: { file: p.config } });
  for (const l of p.layers) blobs.set(l.digest, { size: l.size, origin: { file: l } });
  const manifest = p.manifest
    ? { digest: p.manifest.digest, size: p.manifest.size, origin: { file: p.manifest } }
    : madeManifest(p);
  blobs.set(manifest.digest, { size: manifest.size, origin: manifest.origin });
  return {
    manifestDigest: manifest.digest,
    manifestSize: manifest.size,
    configDigest: p.config.digest,
    configSize: p.config.size,
    layers: p.layers.map((l, i) => ({
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
      diffId: diffIds[i] ?? '',
    })),
    os: p.platform.os,
    architecture: p.platform.architecture,
    ...(p.platform.variant ? { variant: p.platform.variant } : {}),
  };
}

/** An OCI manifest for a docker-save image, which has none: the content's stable name. */
function madeManifest(p: PlatformImage): { digest: string; size: number; origin: BlobOrigin } {
  const oci = (t: string): string =>
    t === MEDIA.dockerLayer ? MEDIA.ociLayer : t === MEDIA.dockerLayerGzip ? MEDIA.ociLayerGzip : t;
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: p.config.digest, size: p.config.size },
      layers: p.layers.map((l) => ({
        mediaType: oci(l.mediaType),
        digest: l.digest,
        size: l.size,
      })),
    }),
  );
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  return { digest, size: body.length, origin: { bytes: body } };
}
