// The description of an image archive: tags, and per platform the config and ordered layers.

export type ArchiveFormat = 'docker-save' | 'oci-layout';

/** A blob the archive holds, identified by the sha256 of its bytes as stored. */
export interface BlobRef {
  digest: string;
  size: number;
  mediaType: string;
  /** Where the blob is inside the archive, to read it again later. */
  path: string;
  /** Where its bytes start in the archive file. */
  offset: number;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** One platform's image: its config and its layers, base layer first. */
export interface PlatformImage {
  platform: Platform;
  /** The OCI/Docker manifest of this platform, when the archive has one. */
  manifest?: BlobRef;
  config: BlobRef;
  layers: BlobRef[];
}

export interface ArchiveImage {
  /** References such as `fleet-test/busybox:3`; empty for an untagged image. */
  tags: string[];
  /** The multi-platform index, when the image is one. */
  index?: BlobRef;
  platforms: PlatformImage[];
}

export interface ImageArchiveDescription {
  format: ArchiveFormat;
  images: ArchiveImage[];
}

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;
