// The cluster's description of one platform's image: the blobs an agent needs to load it into its engine.

/** One layer as the cluster stores it, base layer first in ClusterPlatformImage.layers. */
export interface ClusterLayer {
  /** `sha256:<hex>` of the blob as stored: an uncompressed tar (then equal to diffId) or gzip. */
  digest: string;
  /** Bytes of the blob as stored. */
  size: number;
  /** The layer's media type from the manifest (OCI or Docker; tar, tar+gzip or tar+zstd). */
  mediaType: string;
  /** `sha256:<hex>` of the uncompressed tar: the config's rootfs.diff_ids entry for this layer. */
  diffId: string;
}

/** One platform's image: manifest, config and layers, all content-addressed blobs. */
export interface ClusterPlatformImage {
  /** `sha256:<hex>` of the image manifest blob. */
  manifestDigest: string;
  /** `sha256:<hex>` of the config blob; the image ID in an engine with the classic image store. */
  configDigest: string;
  /** Bytes of the config blob. */
  configSize: number;
  /** Layers, base first, in the order of the config's rootfs.diff_ids. */
  layers: ClusterLayer[];
  os: string;
  architecture: string;
  /** The CPU variant (`v7`, `v8`) when the image names one. */
  variant?: string;
}
