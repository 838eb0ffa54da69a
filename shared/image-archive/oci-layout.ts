// Describes an OCI image layout archive from index.json, following nested indexes to each platform's manifest.
import { z } from 'zod';
import { ArchiveFiles, blobPath } from './archive-files.js';
import type { ArchiveImage, BlobRef, Platform, PlatformImage } from './description.js';
import { MEDIA } from './description.js';
import { platformOf } from './docker-save.js';
import { ImageArchiveError } from './errors.js';

const Descriptor = z.object({
  mediaType: z.string().min(1),
  digest: z.string().regex(/^[a-z0-9]+:[0-9a-f]+$/),
  size: z.number().int().nonnegative(),
  platform: z
    .object({
      architecture: z.string(),
      os: z.string(),
      variant: z.string().optional(),
    })
    .optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
type Descriptor = z.infer<typeof Descriptor>;

const Index = z.object({ manifests: z.array(Descriptor) });
const Manifest = z.object({ config: Descriptor, layers: z.array(Descriptor) });

const INDEX_TYPES: readonly string[] = [MEDIA.ociIndex, MEDIA.dockerList];
const MANIFEST_TYPES: readonly string[] = [MEDIA.ociManifest, MEDIA.dockerManifest];
/** Indexes nest (docker's index.json points at the image's own index); a loop is refused. */
const MAX_DEPTH = 4;

export function describeOciLayout(files: ArchiveFiles): ArchiveImage[] {
  const top = files.json('index.json', Index, 'OCI image index');
  const byDigest = new Map<string, ArchiveImage>();
  for (const desc of top.manifests) {
    const tag = tagOf(desc);
    const known = byDigest.get(desc.digest);
    if (known !== undefined) {
      if (tag !== undefined && !known.tags.includes(tag)) known.tags.push(tag);
      continue;
    }
    const image: ArchiveImage = { tags: tag === undefined ? [] : [tag], platforms: [] };
    if (INDEX_TYPES.includes(desc.mediaType)) image.index = blobRef(files, desc, 'index.json');
    image.platforms = platformsOf(files, desc, 'index.json', 0);
    byDigest.set(desc.digest, image);
  }
  return [...byDigest.values()];
}

/** containerd's full name when present, else the OCI ref name (often just the tag). */
function tagOf(desc: Descriptor): string | undefined {
  const a = desc.annotations ?? {};
  return a['io.containerd.image.name'] ?? a['org.opencontainers.image.ref.name'];
}

function platformsOf(
  files: ArchiveFiles,
  desc: Descriptor,
  what: string,
  depth: number,
): PlatformImage[] {
  if (MANIFEST_TYPES.includes(desc.mediaType)) return [manifestImage(files, desc, what)];
  if (!INDEX_TYPES.includes(desc.mediaType)) return []; // e.g. signatures or other artifacts
  if (depth >= MAX_DEPTH) {
    throw new ImageArchiveError('not-image', `image indexes nest deeper than ${MAX_DEPTH} levels`);
  }
  const path = blobRef(files, desc, what).path;
  const index = files.json(path, Index, 'OCI image index');
  return index.manifests
    .filter((d) => !isAttestation(d))
    .flatMap((d) => platformsOf(files, d, path, depth + 1));
}

/** buildx stores provenance as a manifest for platform unknown/unknown; it runs nowhere. */
function isAttestation(desc: Descriptor): boolean {
  return (
    desc.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    desc.platform?.os === 'unknown'
  );
}

function manifestImage(files: ArchiveFiles, desc: Descriptor, what: string): PlatformImage {
  const manifest = blobRef(files, desc, what);
  const body = files.json(manifest.path, Manifest, 'image manifest');
  const config = blobRef(files, body.config, manifest.path);
  const layers = body.layers.map((l, i) => blobRef(files, l, `${manifest.path} layer ${i + 1}`));
  const platform: Platform = desc.platform
    ? {
        os: desc.platform.os,
        architecture: desc.platform.architecture,
        ...(desc.platform.variant ? { variant: desc.platform.variant } : {}),
      }
    : platformOf(files, config.path, manifest.path);
  return { platform, manifest, config, layers };
}

/** The blob a descriptor names, checked to exist with the size the descriptor promises. */
function blobRef(files: ArchiveFiles, desc: Descriptor, what: string): BlobRef {
  const path = blobPath(desc.digest);
  const file = files.get(path, what);
  if (file.size !== desc.size) {
    throw new ImageArchiveError(
      'size-mismatch',
      `size mismatch for ${path}: ${what} says ${desc.size} bytes, the archive holds ${file.size}`,
    );
  }
  return {
    digest: file.digest,
    size: file.size,
    mediaType: desc.mediaType,
    path,
    offset: file.offset,
  };
}
