// Describes a `docker save` archive from its manifest.json: tags, config and layers per image.
import { z } from 'zod';
import { ArchiveFiles, layerCompression } from './archive-files.js';
import type { ArchiveImage, BlobRef, Platform } from './description.js';
import { MEDIA } from './description.js';
import { ImageArchiveError } from './errors.js';

const ManifestJson = z.array(
  z.object({
    Config: z.string().min(1),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string().min(1)),
  }),
);

/** The platform fields of an image config (OCI image-spec config.md). */
export const ImageConfigPlatform = z.object({
  architecture: z.string().min(1),
  os: z.string().min(1),
  variant: z.string().min(1).optional(),
});

/** Old docker save names configs `<hex>.json` after the image ID, i.e. the config's digest. */
const LEGACY_CONFIG = /(?:^|\/)([0-9a-f]{64})\.json$/;

export function describeDockerSave(files: ArchiveFiles): ArchiveImage[] {
  const entries = files.json('manifest.json', ManifestJson, 'docker save manifest');
  if (entries.length === 0) {
    throw new ImageArchiveError('not-image', 'not an image archive: manifest.json lists no image');
  }
  return entries.map((entry) => {
    const what = `manifest.json (${entry.RepoTags?.join(', ') || entry.Config})`;
    const config = configRef(files, entry.Config, what);
    const platform = platformOf(files, entry.Config, what);
    const layers = entry.Layers.map((name, i) => layerRef(files, name, `${what} layer ${i + 1}`));
    return { tags: entry.RepoTags ?? [], platforms: [{ platform, config, layers }] };
  });
}

export function platformOf(files: ArchiveFiles, name: string, what: string): Platform {
  const config = files.json(name, ImageConfigPlatform, `image config named by ${what}`);
  return {
    os: config.os,
    architecture: config.architecture,
    ...(config.variant === undefined ? {} : { variant: config.variant }),
  };
}

function configRef(files: ArchiveFiles, name: string, what: string): BlobRef {
  const file = files.get(name, what);
  const named = LEGACY_CONFIG.exec(name)?.[1];
  if (named !== undefined && file.digest !== `sha256:${named}`) {
    throw new ImageArchiveError(
      'digest-mismatch',
      `digest mismatch for ${name}: got ${file.digest}`,
    );
  }
  const mediaType = name.startsWith('blobs/') ? MEDIA.ociConfig : MEDIA.dockerConfig;
  return { digest: file.digest, size: file.size, mediaType, path: name, offset: file.offset };
}

/** Layers not named by digest (`<id>/layer.tar`) get the digest computed while scanning. */
function layerRef(files: ArchiveFiles, name: string, what: string): BlobRef {
  const file = files.get(name, what);
  const oci = name.startsWith('blobs/');
  const compression = layerCompression(file.head);
  const mediaType =
    compression === 'gzip'
      ? oci
        ? MEDIA.ociLayerGzip
        : MEDIA.dockerLayerGzip
      : compression === 'zstd'
        ? MEDIA.ociLayerZstd
        : oci
          ? MEDIA.ociLayer
          : MEDIA.dockerLayer;
  return { digest: file.digest, size: file.size, mediaType, path: name, offset: file.offset };
}
